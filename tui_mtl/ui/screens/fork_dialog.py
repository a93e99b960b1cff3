"""The fork dialog: pick the branches of a fair comparison from the step training is paused at.

Each strategy is a line `[x] summed` (ticked, green) or `[ ] grouped`; space (or a click) ticks or
unticks the highlighted one, enter (or ctrl+f) forks, and the line above the buttons always says what
it will make. One more branch can keep the current strategy with changed rates or weights, and any
other strategy can be typed by name. A comparison needs two branches: with one, enter refuses and
`a` adds the current strategy.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, OptionList, Static
from textual.widgets.option_list import Option

from tui_mtl.engine.comparison import BranchSpec, unique_names
from tui_mtl.strategies.catalog import canonical_name
from tui_mtl.ui.frame_pacing import PacedUpdates
from tui_mtl.ui.screens.kept import KeptStyles
from tui_mtl.ui.screens.dialogs import parse_changes

TICKED = "bold #5faf5f"
UNTICKED = "#8a8a8a"


MAX_SEEDS = 50


@dataclass(frozen=True)
class ForkRequest:
    branches: list  # specs for fork(): strategy names or {"strategy", "lr", "weight", "name"}
    names: list[str]  # what the branches will be called
    seeds: int = 1  # > 1: the comparison repeated from scratch on this many seeds (`compare --seeds`)


def tick_label(name: str, ticked: bool, current: bool) -> Text:
    text = Text("[x] " if ticked else "[ ] ", style=TICKED if ticked else UNTICKED)
    text.append(name, style=TICKED if ticked else "")
    if current:
        text.append("  (in force now)", style="dim")
    return text


class TickList(OptionList):
    """The strategies to tick. Enter submits the dialog, as it does in its inputs: a newcomer who ticks
    with space and presses enter means "fork", not "untick the last one" (an OptionList's enter selects)."""

    BINDINGS = [Binding("enter", "submit", "Fork", show=False)]

    class Submitted(Message):
        pass

    def action_submit(self) -> None:
        self.post_message(self.Submitted())


class ForkScreen(PacedUpdates, KeptStyles, ModalScreen[ForkRequest | None]):
    BINDINGS = [
        Binding("escape", "cancel", "Cancel"),
        Binding("ctrl+f", "fork", "Fork", priority=True),
        Binding("space", "toggle", "Tick", show=False),
        Binding("a", "add_current", "Add current", show=False),
    ]

    def __init__(self, strategies: tuple[str, ...], current: str, heads: list[str], step: int = 0) -> None:
        super().__init__()
        self.strategies = tuple(strategies) if current in strategies else (current, *strategies)
        self.current = current
        self.heads = heads
        self.step = step
        self.ticked = {current}

    def _title(self) -> str:
        return (f"[b]Fork at step {self.step:,}: compare from this exact point[/b] (training waits)\n"
                "Every branch starts from the current weights and optimizer state and trains on the "
                "same batches. space ticks · a adds the current strategy · enter forks · esc cancels")

    def reset(self, step: int) -> None:
        """Start again at `step`, only the strategy in force ticked and every field empty, as a new
        dialog would (the dialog is kept between uses)."""
        self.step = step
        self.ticked = {self.current}
        if not self.is_mounted:
            return  # compose() shows them
        self.query_one("#fork-title", Static).update(self._title())
        for name in self.strategies:
            self._redraw(name)
        for key in ("other", "lr", "weight", "seeds"):
            self.query_one(f"#{key}", Input).value = ""
        self.query_one(VerticalScroll).scroll_home(animate=False)
        options = self.query_one("#strategies", OptionList)
        options.highlighted = self.strategies.index(self.current)
        options.focus()
        self._check()

    def paused_at(self, step: int) -> None:
        """Training paused at `step` (the steps in flight when the dialog opened): the fork's step."""
        if step != self.step:
            self.step = step
            # a dialog pushed but not composed yet has no title: compose writes it with this step
            for title in self.query("#fork-title").results(Static):
                title.update(self._title())

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="dialog fork"):  # scrolls at 80x24
            yield Static(self._title(), id="fork-title", classes="dialog-text")
            yield TickList(*(Option(tick_label(n, n in self.ticked, n == self.current), id=n)
                               for n in self.strategies), id="strategies")
            with Horizontal(classes="field"):
                yield Label(f"{'other':>13}", classes="field-label")
                yield Input(placeholder="more strategies by name, e.g. pcgrad@grouped, mgda+dwa", id="other")
            yield Label("", id="other-error", classes="field-error")
            yield Static("Optional: one more branch with the current strategy and these changes", classes="dialog-hint")
            with Horizontal(classes="field"):
                yield Label(f"{'rates':>13}", classes="field-label")
                yield Input(placeholder=f"e.g. {self.heads[0]}=1e-4, trunk=5e-4", id="lr")
            yield Label("", id="lr-error", classes="field-error")
            with Horizontal(classes="field"):
                yield Label(f"{'weights':>13}", classes="field-label")
                yield Input(placeholder=f"e.g. {self.heads[0]}=2", id="weight")
            yield Label("", id="weight-error", classes="field-error")
            with Horizontal(classes="field"):
                yield Label(f"{'× seeds':>13}", classes="field-label")
                yield Input(placeholder="1: fork here; 3 or more: repeat from scratch and test", id="seeds")
            yield Label("", id="seeds-error", classes="field-error")
            yield Static("", id="fork-plan", classes="fork-plan")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Fork (enter)", variant="primary", id="fork")
                yield Button("Cancel (esc)", id="cancel")

    def on_mount(self) -> None:
        options = self.query_one("#strategies", OptionList)
        options.highlighted = self.strategies.index(self.current)
        options.focus()
        self._check()

    # --- ticking ---------------------------------------------------------------------------

    def _redraw(self, name: str) -> None:
        options = self.query_one("#strategies", OptionList)
        options.replace_option_prompt(name, tick_label(name, name in self.ticked, name == self.current))

    def action_toggle(self) -> None:
        if not isinstance(self.focused, OptionList):
            return
        index = self.focused.highlighted
        if index is None:
            return
        name = self.strategies[index]
        self.ticked ^= {name}
        self._redraw(name)
        self._check()

    @on(OptionList.OptionSelected, "#strategies")
    def _clicked(self, _event: OptionList.OptionSelected) -> None:
        self.action_toggle()  # a click ticks (enter forks: TickList)

    def action_add_current(self) -> None:
        if isinstance(self.focused, Input):
            return
        self.ticked.add(self.current)
        self._redraw(self.current)
        self._check()

    # --- what ctrl+f makes -------------------------------------------------------------------

    def _check(self) -> ForkRequest | None:
        lr, lr_error = parse_changes(self.query_one("#lr", Input).value, "rate", self.heads + ["trunk"],
                                     allow_zero=False)
        weight, weight_error = parse_changes(self.query_one("#weight", Input).value, "weight", self.heads,
                                             allow_zero=True)
        other, other_error = self._other_strategies()
        seeds, seeds_error = self._seeds(bool(lr or weight))
        for key, error in (("lr", lr_error), ("weight", weight_error), ("other", other_error),
                           ("seeds", seeds_error)):
            self.query_one(f"#{key}-error", Label).update(error or "")
            self.query_one(f"#{key}", Input).set_class(error is not None, "-invalid")
        branches: list = [n for n in self.strategies if n in self.ticked]
        branches += [n for n in other if n not in branches]
        if lr or weight:
            changed = ", ".join([f"{h} lr {v:g}" for h, v in (lr or {}).items()]
                                + [f"{h} w {v:g}" for h, v in (weight or {}).items()])
            branches.append({"strategy": self.current, "lr": lr or {}, "weight": weight or {},
                             "name": f"{self.current} ({changed})"[:40]})
        names = unique_names([BranchSpec.parse(b) for b in branches])
        plan = self.query_one("#fork-plan", Static)
        problem = None
        if len(names) < 2:
            have = f"only {names[0]}" if names else "no branch"
            problem = (f"A comparison needs two branches or more ({have} now): tick another"
                       + (f", or press a to add {self.current} (in force now)" if self.current not in self.ticked
                          else "") + ".")
            plan.update(Text(problem, style="bold red"))
        else:
            text = Text("will fork into: " if seeds == 1 else f"will compare over {seeds} seeds: ", style="bold")
            text.append(", ".join(names), style=TICKED)
            if self.current not in names:
                text.append(f"   (without {self.current}, the strategy in force)", style="bold #d7af5f")
            if seeds > 1:
                text.append(f"\neach seed from its own initial weights with the settings in force, forked at step "
                            f"{self.step:,}; in the background (tui-mtl compare --seeds), this run stays paused",
                            style="dim")
            plan.update(text)
        if lr_error or weight_error or other_error or seeds_error or problem:
            return None
        return ForkRequest(branches, names, seeds)

    def _seeds(self, changed_branch: bool) -> tuple[int, str | None]:
        text = self.query_one("#seeds", Input).value.strip()
        if not text:
            return 1, None
        if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= MAX_SEEDS:  # '²' is a digit to isdigit
            return 1, f"× seeds: a whole number from 1 to {MAX_SEEDS}, got {text!r}"
        seeds = int(text)
        if seeds > 1 and changed_branch:
            return seeds, "× seeds repeats strategies by name: leave rates and weights empty (or use 1)"
        return seeds, None

    def _other_strategies(self) -> tuple[list[str], str | None]:
        text = self.query_one("#other", Input).value
        names = []
        for item in (part.strip() for part in text.split(",")):
            if not item:
                continue
            try:
                names.append(canonical_name(item))
            except ValueError as err:
                return [], str(err)
        return names, None

    @on(Input.Changed)
    def _changed(self) -> None:
        self._check()

    @on(Input.Submitted)
    @on(TickList.Submitted)
    @on(Button.Pressed, "#fork")
    def action_fork(self) -> None:
        request = self._check()
        if request is None:
            self.app.bell()
            return
        self.dismiss(request)

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)
