"""Modal dialogs: confirm, edit a head, save the session as a preset. Keyboard only; Esc cancels."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

from tui_mtl.errors import CommandError
from tui_mtl.presets import check_preset_name
from tui_mtl.presets.numbers import parse_non_negative
from tui_mtl.presets.numbers import parse_positive as parse_number
from tui_mtl.ui.frame_pacing import PacedUpdates
from tui_mtl.ui.screens.kept import KeptStyles


def parse_positive(text: str, what: str, *, allow_zero: bool = False) -> tuple[float | None, str | None]:
    """(value, None) or (None, error message): the engine's own number rules (tui_mtl.presets.numbers)."""
    parse = parse_non_negative if allow_zero else parse_number
    try:
        return parse(text, what), None
    except CommandError as err:
        return None, str(err)


class ConfirmScreen(PacedUpdates, ModalScreen[bool]):
    """Yes / no. `y` or Enter confirms, `n` or Esc declines."""

    BINDINGS = [
        Binding("y", "answer(True)", "Yes"),
        Binding("n,escape", "answer(False)", "No"),
    ]

    def __init__(self, question: str, yes: str = "Yes", no: str = "No") -> None:
        super().__init__()
        self.question = question
        self.yes, self.no = yes, no

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(self.question, classes="dialog-text")
            with Horizontal(classes="dialog-buttons"):
                yield Button(f"{self.yes} (y)", variant="warning", id="yes")
                yield Button(f"{self.no} (n)", id="no")

    def on_mount(self) -> None:
        self.query_one("#no", Button).focus()

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

    def action_answer(self, answer: bool) -> None:
        self.dismiss(answer)


@dataclass(frozen=True)
class HeadEdit:
    learning_rate: float | None = None
    weight: float | None = None
    loss_scale: float | None = None


class EditHeadScreen(PacedUpdates, KeptStyles, ModalScreen[HeadEdit | None]):
    """Learning rate, weight and loss scale of one head (only the rate for the trunk).

    Every field is checked as you type; an invalid value shows its error inline and Enter does
    nothing until it is fixed, so nothing is changed.
    """

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, head: str, learning_rate: float, weight: float | None = None,
                 loss_scale: float | None = None) -> None:
        super().__init__()
        self.head = head
        self.initial = HeadEdit(learning_rate, weight, loss_scale)

    def reset(self, learning_rate: float, weight: float | None = None, loss_scale: float | None = None) -> None:
        """Show these values again, as a new dialog would (the dialog is kept between uses)."""
        fields = (weight is None, loss_scale is None)
        if fields != (self.initial.weight is None, self.initial.loss_scale is None):
            raise ValueError(f"the dialog for {self.head} has other fields")
        self.initial = HeadEdit(learning_rate, weight, loss_scale)
        if not self.is_mounted:
            return  # compose() shows them
        for key, _label, value, _zero in self._fields():
            self.query_one(f"#{key}", Input).value = f"{value:g}"
        self._check()
        first = self.query_one("#learning_rate", Input)
        first.focus()
        first.select_all()

    def _fields(self) -> list[tuple[str, str, float | None, bool]]:
        fields = [("learning_rate", "learning rate", self.initial.learning_rate, False)]
        if self.initial.weight is not None:
            fields.append(("weight", "weight", self.initial.weight, True))
        if self.initial.loss_scale is not None:
            fields.append(("loss_scale", "loss scale", self.initial.loss_scale, False))
        return fields

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(f"[b]Edit {self.head}[/b]  (Enter applies at the next step, Esc cancels)",
                         classes="dialog-text")
            for key, label, value, _zero in self._fields():
                with Horizontal(classes="field"):
                    yield Label(f"{label:>13}", classes="field-label")
                    yield Input(value=f"{value:g}", id=key, select_on_focus=True)
                yield Label("", id=f"{key}-error", classes="field-error")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Apply (enter)", variant="primary", id="apply")
                yield Button("Cancel (esc)", id="cancel")

    def _check(self) -> tuple[HeadEdit | None, bool]:
        values: dict[str, float | None] = {}
        ok = True
        for key, label, _value, allow_zero in self._fields():
            text = self.query_one(f"#{key}", Input).value
            value, error = parse_positive(text, label, allow_zero=allow_zero)
            self.query_one(f"#{key}-error", Label).update(error or "")
            self.query_one(f"#{key}", Input).set_class(error is not None, "-invalid")
            ok = ok and error is None
            values[key] = value
        return (HeadEdit(**values) if ok else None), ok

    @on(Input.Changed)
    def _changed(self, _event: Input.Changed) -> None:
        self._check()

    @on(Input.Submitted)
    def _submitted(self, _event: Input.Submitted) -> None:
        self._apply()

    @on(Button.Pressed, "#apply")
    def _apply(self) -> None:
        edit, ok = self._check()
        if not ok:
            self.app.bell()
            return
        changed = HeadEdit(*(new if new != old else None for new, old in
                             ((edit.learning_rate, self.initial.learning_rate), (edit.weight, self.initial.weight),
                              (edit.loss_scale, self.initial.loss_scale))))
        self.dismiss(changed)

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)


@dataclass(frozen=True)
class SaveRequest:
    name: str
    description: str


class SavePresetScreen(PacedUpdates, KeptStyles, ModalScreen[SaveRequest | None]):
    """Name (validated as you type) and an optional description for the preset file."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, default_name: str, description: str, folder: str,
                 exists: Callable[[str], str | None] | None = None) -> None:
        """`exists(name)`: a warning when saving under `name` would replace or shadow a preset."""
        super().__init__()
        self.default_name = default_name
        self.description = description
        self.folder = folder
        self.exists = exists or (lambda _name: None)

    def reset(self, default_name: str, description: str, folder: str,
              exists: Callable[[str], str | None] | None = None) -> None:
        """Start again from these, as a new dialog would (the dialog is kept between uses)."""
        self.default_name, self.description, self.folder = default_name, description, folder
        self.exists = exists or (lambda _name: None)
        if not self.is_mounted:
            return  # compose() shows them
        self.query_one("#name", Input).value = default_name
        self.query_one("#description", Input).value = description
        self.query_one("#folder", Static).update(f"into {folder}")
        self.query_one("#name", Input).focus()
        self._check()

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static("[b]Save the session as a preset[/b]\nIt holds the strategy, learning rates and "
                         "weights in force now.", classes="dialog-text")
            with Horizontal(classes="field"):
                yield Label(f"{'name':>13}", classes="field-label")
                yield Input(value=self.default_name, id="name", select_on_focus=False)
            yield Label("", id="name-error", classes="field-error")
            with Horizontal(classes="field"):
                yield Label(f"{'description':>13}", classes="field-label")
                yield Input(value=self.description, id="description")
            yield Static(f"into {self.folder}", id="folder", classes="dialog-hint")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Save (enter)", variant="primary", id="save")
                yield Button("Cancel (esc)", id="cancel")

    def on_mount(self) -> None:
        self.query_one("#name", Input).focus()
        self._check()

    def _check(self) -> str | None:
        name = self.query_one("#name", Input).value.strip()
        error = check_preset_name(name)
        label = self.query_one("#name-error", Label)
        warning = self.exists(name) if error is None else None
        if warning:
            label.update(warning)
            label.set_class(True, "-warning")
        else:
            label.update(error or "")
            label.set_class(False, "-warning")
        self.query_one("#name", Input).set_class(error is not None, "-invalid")
        return error

    @on(Input.Changed, "#name")
    def _changed(self) -> None:
        self._check()

    @on(Input.Submitted)
    @on(Button.Pressed, "#save")
    def _save(self) -> None:
        if self._check() is not None:
            self.app.bell()
            return
        self.dismiss(SaveRequest(self.query_one("#name", Input).value.strip(),
                                 self.query_one("#description", Input).value.strip()))

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)


def parse_changes(text: str, what: str, heads: list[str], *, allow_zero: bool) -> tuple[dict | None, str | None]:
    """'shape=1e-4, x=2e-3' -> ({head: value}, None) or (None, error). Empty text: no changes."""
    changes: dict[str, float] = {}
    for item in (part.strip() for part in text.split(",")):
        if not item:
            if text.strip():
                return None, f"{what}: an empty entry (two commas?)"
            continue
        head, sep, value_text = item.partition("=")
        head = head.strip()
        if not sep:
            return None, f"{what}: {item!r} is not HEAD=VALUE"
        if head not in heads:
            return None, f"{what}: unknown head {head!r}; heads are {', '.join(heads)}"
        value, error = parse_positive(value_text, f"{what} of {head}", allow_zero=allow_zero)
        if error:
            return None, error
        changes[head] = value
    return changes, None
