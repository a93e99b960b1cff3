"""The trials of an in-app rate sweep (`o`) as they finish: ranked by objective, the best starred
and bold. The sweep runs in a child process either way: Esc closes this table, `o` shows it again."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from tui_mtl.ui.frame_pacing import PacedUpdates
from tui_mtl.ui.sweep_job import SweepTrials


HINT = "Enter uses the best rate (★) · Esc closes this table: the sweep goes on, o shows it again"
HINT_DONE = "Enter uses the best rate (★) · Esc closes this table (o then starts a new sweep)"


def trials_table(trials: SweepTrials) -> Table:
    table = Table(box=None, padding=(0, 1), header_style="bold")
    for column, justify in (("", "left"), ("trial", "right"), ("setting", "left"), ("objective", "right"),
                            ("outcome", "left")):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    best = trials.best
    for row in trials.rows:
        is_best = row is best
        table.add_row("★" if is_best else "", str(row.number), row.settings,
                      f"{row.objective:.4g}" if row.objective is not None else "—", row.outcome,
                      style="bold green" if is_best else ("dim" if row.objective is None else ""))
    return table


def status_text(trials: SweepTrials) -> str:
    count = f"{len(trials.rows)}/{trials.total} trials"
    if not trials.done:
        return f"{count} finished; the next appears when it finishes"
    if trials.report is None:
        return f"{count}: the sweep stopped without a report"
    return f"done, {count}. Report: {trials.report}"


class SweepScreen(PacedUpdates, ModalScreen[float | None]):
    """Dismissed with the best trial's rate when the user takes it (enter), else None."""

    BINDINGS = [Binding("escape,o", "close", "Close"), Binding("enter", "take_best", "Use the best rate")]

    def __init__(self, trials: SweepTrials, strategy: str, steps: int) -> None:
        super().__init__()
        self.trials = trials
        self.strategy, self.steps = strategy, steps

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="dialog sweep"):
            yield Static(Text(f"Sweep of {self.trials.head}'s rate ({self.strategy}, {self.steps} steps a trial; "
                              f"objective: Σ wᵢ·val lossᵢ, the lower the better)", style="bold"),
                         classes="dialog-title")
            yield Static(trials_table(self.trials), id="trials")
            yield Static(status_text(self.trials), id="sweep-status", classes="dialog-text")
            yield Static(Text(HINT_DONE if self.trials.done else HINT, style="dim"), id="sweep-hint",
                         classes="dialog-hint")

    def show(self, trials: SweepTrials) -> None:
        self.trials = trials
        self.query_one("#trials", Static).update(trials_table(trials))
        self.query_one("#sweep-status", Static).update(status_text(trials))
        self.query_one("#sweep-hint", Static).update(Text(HINT_DONE if trials.done else HINT, style="dim"))

    def action_close(self) -> None:
        self.dismiss(None)

    def action_take_best(self) -> None:
        """The best complete trial's rate (as the sweep printed it, 3 significant digits)."""
        best = self.trials.best
        if best is None:
            self.notify("No trial has completed yet.", severity="warning")
            return
        self.dismiss(float(best.settings.rsplit(" ", 1)[-1]))
