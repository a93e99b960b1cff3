"""Pick any strategy by name (`t`): every valid AGGREGATOR@LAYOUT+WEIGHTING, filtered as you type,
with what the highlighted one does."""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, OptionList, Static
from textual.widgets.option_list import Option

from tui_mtl.strategies.catalog import all_strategies, parse_strategy
from tui_mtl.ui.frame_pacing import PacedUpdates


def matches(name: str, query: str) -> bool:
    """Every word of the query appears in the name or its description."""
    haystack = f"{name} {parse_strategy(name).describe()}".lower()
    return all(word in haystack for word in query.lower().split())


class StrategyPickerScreen(PacedUpdates, ModalScreen[str | None]):
    BINDINGS = [Binding("escape", "cancel", "Cancel"), Binding("down", "down", show=False),
                Binding("up", "up", show=False)]

    def __init__(self, current: str) -> None:
        super().__init__()
        self.current = current
        self.names: list[str] = list(all_strategies())

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog strategy-picker"):
            yield Static("[b]Pick a strategy[/b]  type to filter · ↑/↓ · enter switches · esc cancels",
                         classes="dialog-text")
            yield Input(placeholder="e.g. grouped pcgrad, or dwa", id="query")
            yield OptionList(id="names")
            yield Static("", id="about", classes="dialog-hint")

    def on_mount(self) -> None:
        self._fill("")
        self.query_one("#query", Input).focus()

    def _fill(self, query: str) -> None:
        options = self.query_one("#names", OptionList)
        options.clear_options()
        shown = [n for n in self.names if matches(n, query)]
        for name in shown:
            label = Text(name, style="bold" if name == self.current else "")
            if name == self.current:
                label.append("  (in force)", style="dim")
            options.add_option(Option(label, id=name))
        if shown:
            options.highlighted = shown.index(self.current) if self.current in shown else 0
        self._about()

    def _about(self) -> None:
        options = self.query_one("#names", OptionList)
        index = options.highlighted
        about = self.query_one("#about", Static)
        if index is None or options.option_count == 0:
            about.update("no strategy matches")
            return
        name = options.get_option_at_index(index).id or ""
        parsed = parse_strategy(name)
        about.update(f"{name} = {parsed.aggregator}@{parsed.layout}+{parsed.weighting}\n{parsed.describe()}")

    @on(Input.Changed, "#query")
    def _query(self, event: Input.Changed) -> None:
        self._fill(event.value)

    @on(OptionList.OptionHighlighted)
    def _highlighted(self) -> None:
        self._about()

    def action_down(self) -> None:
        self.query_one("#names", OptionList).action_cursor_down()

    def action_up(self) -> None:
        self.query_one("#names", OptionList).action_cursor_up()

    @on(Input.Submitted)
    def _submitted(self) -> None:
        options = self.query_one("#names", OptionList)
        if options.highlighted is not None and options.option_count:
            self.dismiss(options.get_option_at_index(options.highlighted).id)
        else:
            self.app.bell()

    @on(OptionList.OptionSelected)
    def _selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    def action_cancel(self) -> None:
        self.dismiss(None)
