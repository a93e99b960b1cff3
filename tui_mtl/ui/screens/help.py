"""Every key, in one place (`?`)."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from tui_mtl.ui.keys import DASHBOARD_KEYS

INTRO = (
    "Every change takes effect at the next training step, without pausing or retracing, "
    "and is marked on the plots."
)


def keys_table(strategies: tuple[str, ...]) -> Table:
    table = Table.grid(padding=(0, 2))
    table.add_column(justify="right", style="bold")
    table.add_column()
    for key in DASHBOARD_KEYS:
        table.add_row(key.shown, key.help)
        if key.action == "next_strategy":
            for i, name in enumerate(strategies, start=1):
                table.add_row(str(i) if i <= 9 else "s / S", f"Switch to [b]{name}[/b]")
    table.add_row("ctrl+p", "Command palette: every action by name")
    return table


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,question_mark,q", "close", "Close")]

    def __init__(self, strategies: tuple[str, ...]) -> None:
        super().__init__()
        self.strategies = strategies

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="dialog help"):
            yield Static(Text("Keys", style="bold"), classes="dialog-title")
            yield Static(INTRO, classes="dialog-text")
            yield Static(keys_table(self.strategies))
            yield Static(Text("Esc, ? or q closes this help", style="dim"), classes="dialog-hint")

    def action_close(self) -> None:
        self.dismiss(None)
