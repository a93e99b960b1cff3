"""`tui-mtl watch RUN`: a run's per-head losses plotted live from its metrics.csv — a Keras fit
streamed by tui_mtl.keras.LiveCallback, or any tui-mtl run (read only: nothing is trained here)."""

from __future__ import annotations

import time
from pathlib import Path

from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Grid
from textual.widgets import Footer, Static

from tui_mtl.runs.tail import MetricsTail
from tui_mtl.ui.widgets.loss_plot import LossPlot

STALE_SECONDS = 30.0  # a running fit with no new row for this long is said to be quiet


class WatchApp(App):
    TITLE = "tui-mtl watch"
    CSS = """
    #status { height: 1; padding: 0 1; background: $panel; }
    #plots { grid-gutter: 0; height: 1fr; }
    #waiting { padding: 1 2; color: $text-muted; }
    """
    BINDINGS = [Binding("q", "quit", "Quit"), Binding("l", "toggle_log", "Log scale")]

    def __init__(self, run_dir: Path, *, interval: float = 0.5, **kwargs) -> None:
        super().__init__(**kwargs)
        self.run_dir = Path(run_dir)
        self.interval = interval
        self.tail = MetricsTail(self.run_dir)
        self.plots: dict[str, LossPlot] = {}
        self.log_scale = False

    def compose(self) -> ComposeResult:
        yield Static(id="status")
        yield Static(f"waiting for the first rows of {self.tail.path} …", id="waiting")
        yield Grid(id="plots")
        yield Footer()

    def on_mount(self) -> None:
        self.poll()
        self.set_interval(self.interval, self.poll)

    def poll(self) -> None:
        if self.tail.poll():
            self._ensure_plots()
            for head, plot in self.plots.items():
                plot.set_series(self.tail.series.snapshot(head), [])
        self.query_one("#status", Static).update(self.status_text())

    def _ensure_plots(self) -> None:
        heads = [h for h in self.tail.series.heads if h not in self.plots]
        if not heads:
            return
        self.query_one("#waiting").display = False
        grid = self.query_one("#plots", Grid)
        for head in heads:
            plot = LossPlot(head, id=f"plot-{head}")
            plot.set_log(self.log_scale)
            self.plots[head] = plot
            grid.mount(plot)
        columns = min(len(self.plots), 3)
        grid.styles.grid_size_columns = columns
        grid.styles.grid_size_rows = -(-len(self.plots) // columns)

    def status_text(self) -> str:
        series, meta = self.tail.series, self.tail.meta()
        state = meta.get("state") or series.state or "waiting"
        if state == "running" and self.tail.path.exists():
            quiet = time.time() - self.tail.path.stat().st_mtime
            if quiet > STALE_SECONDS:
                state = f"running? no new row for {quiet:.0f} s"
        speed = f" · {series.steps_per_sec:.3g} steps/s" if series.steps_per_sec else ""
        source = f" · {meta['source']}" if meta.get("source") else ""
        return f"{self.run_dir.name} · {series.strategy or '—'} · step {series.step:,}{speed} · {state}{source}"

    def action_toggle_log(self) -> None:
        self.log_scale = not self.log_scale
        for plot in self.plots.values():
            plot.set_log(self.log_scale)


def run_watch(run_dir: Path, interval: float = 0.5) -> int:
    WatchApp(run_dir, interval=interval).run()
    return 0
