"""Every key and every strategy, in one place (`?`)."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from tui_mtl.strategies.catalog import parse_strategy
from tui_mtl.ui.frame_pacing import PacedUpdates
from tui_mtl.ui.screens.kept import KeptStyles
from tui_mtl.ui.keys import DASHBOARD_KEYS, PICKER_KEYS

INTRO = (
    "Every change takes effect at the next training step, without pausing or retracing, is marked on "
    "the plots, and can be undone with z (a snapshot is kept before each change)."
)


def keys_table(strategies: tuple[str, ...]) -> Table:
    table = Table.grid(padding=(0, 2))
    table.add_column(justify="right", style="bold")
    table.add_column()
    seen = set()
    for key in DASHBOARD_KEYS:
        if (key.shown, key.help) in seen:
            continue
        seen.add((key.shown, key.help))
        table.add_row(key.shown, key.help)
    table.add_row("1–9", "Switch to one of the first nine strategies below")
    table.add_row("ctrl+p", "Command palette: every action and every strategy by name")
    return table


def strategies_table(strategies: tuple[str, ...]) -> Table:
    table = Table.grid(padding=(0, 2))
    table.add_column(justify="right", style="bold")
    table.add_column(style="bold")
    table.add_column()
    for i, name in enumerate(strategies, start=1):
        table.add_row(str(i) if i <= 9 else "", name, parse_strategy(name).describe())
    return table


class HelpScreen(PacedUpdates, KeptStyles, ModalScreen[None]):
    BINDINGS = [Binding("escape,question_mark,q", "close", "Close")]

    def __init__(self, strategies: tuple[str, ...] | None = None, *, picker: bool = False) -> None:
        super().__init__()
        self.strategies = strategies or ()
        self.picker = picker

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="dialog help"):
            if self.picker:
                yield Static(Text("Keys: the preset picker", style="bold"), classes="dialog-title")
                table = Table.grid(padding=(0, 2))
                table.add_column(justify="right", style="bold")
                table.add_column()
                for key, text in PICKER_KEYS:
                    table.add_row(key, text)
                yield Static(table)
            else:
                yield Static(Text("Keys", style="bold"), classes="dialog-title")
                yield Static(INTRO, classes="dialog-text")
                yield Static(keys_table(self.strategies))
                yield Static(Text("\nStrategies (t picks any combination: AGGREGATOR@LAYOUT+WEIGHTING)",
                                  style="bold"), classes="dialog-title")
                yield Static(strategies_table(self.strategies))
            yield Static(Text("Esc, ? or q closes this help", style="dim"), classes="dialog-hint")

    def reset(self) -> None:
        """From the top again (the dialog is kept between uses)."""
        if self.is_mounted:
            self.query_one(VerticalScroll).scroll_home(animate=False)

    def action_close(self) -> None:
        self.dismiss(None)
