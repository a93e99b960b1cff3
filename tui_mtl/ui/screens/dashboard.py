"""The dashboard: one session (or a comparison's branches) trained by the worker, watched and
steered by keyboard.

Data flow: the worker posts messages; the handlers put them into the view model (`DashboardModel`),
which decides what is shown; the widgets draw it. Keys call the session's thread-safe command
methods (validated at once, applied by the training thread at the next step boundary) and record
the requested value in the model, shown with a '…' until a report says it is in force. Cheap text
is refreshed per batch of reports; plots by a timer when there is new data, while training only as
often as the UI's budget of a core allows (`RefreshBudget`).
"""

from __future__ import annotations

import json
import math
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Grid
from textual.screen import Screen
from textual.widgets import Static

from tui_mtl.engine.reports import Event
from tui_mtl.engine.settings import TRUNK
from tui_mtl.engine.state import State
from tui_mtl.errors import CommandError
from tui_mtl.presets import Preset, loss_label
from tui_mtl.ui import remembered
from tui_mtl.ui.colors import PARENT_COLOR, TRAIN_COLOR, VAL_COLOR
from tui_mtl.ui.frame_pacing import PacedUpdates
from tui_mtl.ui.keys import Action, dashboard_bindings
from tui_mtl.ui.screens.fork_dialog import ForkScreen
from tui_mtl.ui.messages import (DeviceChanged, ForkFailed, ForkReady, Note, ReportsReady, SessionFailed,
                                 SessionReady, Toast, TrainingFailed)
from tui_mtl.ui.refresh_budget import RefreshBudget
from tui_mtl.ui.screens.dashboard_actions import DashboardActions
from tui_mtl.ui.child_job import ChildJob, JobDone, JobProgress
from tui_mtl.ui.screens.sweep_table import SweepScreen
from tui_mtl.ui.sweep_job import SweepTrials
from tui_mtl.ui.view_model import DashboardModel, Phase, SpaceAction, View
from tui_mtl.ui.widgets.diagnostics import DiagnosticsPanel, latest_from_history
from tui_mtl.ui.widgets.head_table import COLUMNS, HeadTable, columns_width, compare_columns
from tui_mtl.ui.widgets.loss_plot import LossPlot, SeriesStyle, legend_markup
from tui_mtl.ui.widgets.steady_footer import SteadyFooter
from tui_mtl.ui.widgets.status import ErrorBanner, EventLine, ProgressPanel, StrategyBar, TitleBar
from tui_mtl.ui.worker import TrainingWorker

QUIT_WAIT_SECONDS = 10.0  # then the app says it is still writing the final checkpoint


class DashboardScreen(PacedUpdates, DashboardActions, Screen[None]):
    BINDINGS = dashboard_bindings()

    def __init__(self, preset: Preset, preset_path: Path | None, *, session_factory: Callable,
                 device_probe: Callable, run_dir: Path | None = None, plot_hz: float = 2.0,
                 recorder_factory: Callable | None = None, resume_from: Path | None = None,
                 base_dir: Path | None = None) -> None:
        super().__init__()
        self.preset = preset
        self.preset_path = preset_path
        self.run_dir = run_dir
        self.plot_hz = plot_hz
        self.model = DashboardModel(preset)
        self.model.log_scale = remembered.log_scale(preset.name, preset.display.log_scale)
        base_dir = base_dir if base_dir is not None else (preset_path.parent if preset_path else None)
        self.job: ChildJob | None = None  # a fork "× N seeds" or a rate sweep, in a child process
        self.sweep_trials: SweepTrials | None = None  # the rate sweep's table, as its trials finish
        self.worker = TrainingWorker(self.post_message, preset=preset, base_dir=base_dir, run_dir=run_dir,
                                     resume_from=resume_from, session_factory=session_factory,
                                     recorder_factory=recorder_factory, device_probe=device_probe)
        self.session: Any = None  # the session, or the comparison's current branch: what the keys act on
        self.comparison: Any = None
        self.parent_session: Any = None  # the session the comparison forked from (its history is grey)
        self.reports_seen = 0
        self.plot_updates = 0
        self._plots_dirty = True
        self._text_dirty = True
        self._ticks = 0
        # While training shares the cores, plots are redrawn as often as the UI's share of a core allows.
        self.plot_budget = RefreshBudget()
        # (monotonic time, step, UI thread's CPU time) at each report, for benchmarks
        self._speed_marks: list[tuple[float, int, float]] = []
        self._footer: tuple = ()

    # --- layout ---------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield TitleBar(id="titlebar")
        yield StrategyBar(id="strategy")
        yield ErrorBanner(id="error")
        yield HeadTable(head_width=max(len(h) for h in self.preset.model.head_names + [TRUNK]), id="heads")
        with Grid(id="plots"):
            for head in self.preset.model.heads:
                yield LossPlot(head.name, loss_label(str(head.loss)), id=f"plot-{head.name}")
        yield DiagnosticsPanel(self.preset.model.head_names, id="diagnostics")
        yield Static(id="legend")
        yield EventLine(id="events")
        yield ProgressPanel(id="progress")
        yield SteadyFooter(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        columns = min(len(self.preset.model.heads), 3)
        grid = self.query_one("#plots", Grid)
        grid.styles.grid_size_columns = columns
        grid.styles.grid_size_rows = math.ceil(len(self.preset.model.heads) / columns)
        for plot in self.visible_plots():
            plot.set_log(self.model.log_scale)
        self.refresh_text()
        self.set_interval(1 / (2 * self.plot_hz), self._tick, name="refresh")
        self.worker.start()

    # --- the worker's messages ---------------------------------------------------------------

    @on(SessionReady)
    def _session_ready(self, message: SessionReady) -> None:
        self.session = message.session
        self.model.phase = Phase.READY
        self.model.device = message.device
        self.refresh_text()

    @on(SessionFailed)
    def _session_failed(self, message: SessionFailed) -> None:
        self.model.phase = Phase.START_FAILED
        self.model.device = "no session"
        self.model.failure = message.message
        self.refresh_text()

    @on(TrainingFailed)
    def _training_failed(self, message: TrainingFailed) -> None:
        self.model.failure = message.message
        self.refresh_text()

    @on(ReportsReady)
    def _reports_ready(self, _message: ReportsReady) -> None:
        items = self.worker.reports.drain()
        shown = self.model.report
        had_values = shown is not None and bool(shown.train_loss)
        for item in items:
            self.model.take(item)
            report = next(iter(item.values())) if isinstance(item, dict) else item
            self._speed_marks.append((time.monotonic(), report.step, time.thread_time()))
        self.reports_seen += len(items)
        if items:
            self._plots_dirty = True
            self._text_dirty = True
            last = items[-1]
            last = next(iter(last.values())) if isinstance(last, dict) else last
            if last.state is State.PAUSED and isinstance(self.app.screen, ForkScreen):
                self.app.screen.paused_at(last.step)  # the step the branches will start from
            if last.state is not State.RUNNING or self._footer[:1] != (SpaceAction.PAUSE,) or \
                    (not had_values and last.train_loss):
                self.refresh_text()  # a change of state, and the first trained values, are shown at once

    @on(ForkReady)
    def _fork_ready(self, message: ForkReady) -> None:
        comparison = message.comparison
        self.comparison = comparison
        self.parent_session = self.session
        names = list(comparison.branches)
        self.model.forked(names, comparison.fork_step)
        self.session = comparison.branches[names[0]]
        self.model.paused_for_dialog = False
        self._plots_dirty = True
        self.refresh_text()
        self.refresh_bindings()

    @on(ForkFailed)
    def _fork_failed(self, message: ForkFailed) -> None:
        self.model.forking = False
        self.notify(message.message, title="not forked", severity="error")
        if self.model.paused_for_dialog and self.session is not None:
            self.session.resume()
            self.model.paused_for_dialog = False
        self.refresh_text()

    @on(Note)
    def _noted(self, message: Note) -> None:
        self.model.say(message.text)
        if message.error:
            self.notify(message.text, severity="error")
        self.refresh_text()

    @on(Toast)
    def _toast(self, message: Toast) -> None:
        self.notify(message.text, title=message.title, severity=message.severity)  # type: ignore[arg-type]

    @on(DeviceChanged)
    def _device_changed(self, message: DeviceChanged) -> None:
        self.model.device = message.device
        self.refresh_text()

    # --- quitting -------------------------------------------------------------------------------

    @on(JobProgress)
    def _job_progress(self, message: JobProgress) -> None:
        self.model.say(message.text)
        self.refresh_text()

    @on(SweepTrials)
    def _sweep_trials(self, message: SweepTrials) -> None:
        self.sweep_trials = message
        if isinstance(self.app.screen, SweepScreen):
            self.app.screen.show(message)

    @on(JobDone)
    def _job_done(self, message: JobDone) -> None:
        if message.report is None:
            text = f"{message.title}: failed (exit {message.code}): {message.error or 'no report'}"
            self.model.say(text)
            self.notify(text, severity="error")
        else:
            self.model.say(message.summary)
            if not isinstance(self.app.screen, SweepScreen):  # an open table already says it all
                self.notify("\n".join([*message.lines, f"report: {message.report}"]), title=message.title,
                            timeout=30)
        self.refresh_text()

    def shutdown(self) -> None:
        """Stop training at the next step; the worker then writes the final checkpoints (any thread).
        A child job is told to stop too (it reports what it finished)."""
        if self.job is not None:
            self.job.stop()
        self.worker.shutdown()

    def wait_finished(self, timeout: float | None = QUIT_WAIT_SECONDS) -> bool:
        return self.worker.wait_finished(timeout)

    def on_unmount(self) -> None:
        self.shutdown()
        self._write_summary()

    def _write_summary(self) -> None:
        """ui-summary.json in the run folder: wall-clock steps/s seen by the UI (for benchmarks)."""
        marks = [m for m in self._speed_marks if m[1] > 0]
        if self.run_dir is None or len(marks) < 2 or marks[-1][0] <= marks[0][0]:
            return
        summary = {"reports": len(self._speed_marks), "plot_updates": self.plot_updates,
                   "first_step": marks[0][1], "last_step": marks[-1][1], "seconds": marks[-1][0] - marks[0][0],
                   "steps_per_sec": (marks[-1][1] - marks[0][1]) / (marks[-1][0] - marks[0][0]),
                   "marks": [(round(t - marks[0][0], 4), step, round(cpu - marks[0][2], 4))
                             for t, step, cpu in marks]}
        try:
            (Path(self.run_dir) / "ui-summary.json").write_text(json.dumps(summary, indent=1))
        except OSError:
            pass

    # --- drawing --------------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple) -> bool | None:
        """Space is Pause, Resume or Train on, whichever fits the state (the footer shows that one)."""
        space = {Action.PAUSE.value: SpaceAction.PAUSE, Action.RESUME.value: SpaceAction.RESUME,
                 Action.EXTEND.value: SpaceAction.EXTEND}
        if action in space:
            return self.model.space_action() is space[action]
        if action == Action.BACK.value:
            return self.model.phase is Phase.START_FAILED
        faulted = self.model.state is State.FAULTED
        comparing = self.model.branches is not None
        if action == Action.REWIND_SHOWN.value:  # the footer offers rewind while a fault waits
            return faulted
        if action == Action.REWIND.value:
            return not faulted
        if action == Action.FORK.value:
            return not comparing and not faulted
        if action in (Action.CYCLE_VIEW.value, Action.NEXT_BRANCH.value):
            return comparing  # only during a comparison (and only then in the footer)
        return True

    def histories(self) -> dict:
        if self.comparison is None:
            return {}
        return {name: branch.history for name, branch in self.comparison.branches.items()}

    def refresh_text(self) -> None:
        model = self.model
        self._text_dirty = False
        footer = (model.space_action(), model.state is State.FAULTED, model.branches is not None)
        if footer != self._footer:  # the footer names what space does now, and rewind after a fault
            self._footer = footer
            self.refresh_bindings()
        model.pending.settle(model.report)
        self.query_one(TitleBar).show(f"tui-mtl · {self.preset.name}", model.device, model.state_label)
        branch = None
        if model.branches is not None:
            b = model.branches
            branch = f"{b.current} ({b.names.index(b.current) + 1}/{len(b.names)}, {b.view.value})"
        tracing = model.report is not None and model.report.tracing
        self.query_one(StrategyBar).show(model.in_force()[3], model.strategies, model.pending.strategy,
                                         branch=branch, compiling=tracing)
        self.query_one(ErrorBanner).show(model.error_text(), whole=model.phase is Phase.START_FAILED)
        table = self.query_one(HeadTable)
        if model.branches is not None:
            width = table.size.width or self.app.size.width
            with_best = columns_width(compare_columns(model.branches.names, "", True)) <= width
            table.set_columns(compare_columns(model.branches.names, model.branches.current, with_best))
            table.show(model.compare_rows(self.histories(), with_best))
        else:
            table.set_columns(COLUMNS)
            table.show(model.head_rows(self.session.history if self.session is not None else None))
        self.query_one(ProgressPanel).show(*model.progress())
        events = self.session.history.markers() if self.session is not None else []
        self.query_one(EventLine).show(events, model.current_note())
        if model.show_diagnostics:
            diagnostics, step = model.last_diagnostics, model.last_diagnostics_step
            if diagnostics is None and self.session is not None:  # e.g. a resumed run: from its history
                diagnostics, step = latest_from_history(self.session.history, model.heads)
            effective = model.report.effective_weights if model.report is not None else None
            self.query_one(DiagnosticsPanel).show_latest(diagnostics, effective, step,
                                                         self.preset.training.diagnostics_every)

    def _tick(self) -> None:
        """Timer: text and plots take turns (each at most at plot_hz; plots, while training, within
        the budget), so no tick does both; keys and state changes refresh the text at once, outside
        the timer."""
        self._ticks += 1
        if self._ticks % 2:
            if self._text_dirty or self.model.pending:
                self.refresh_text()
        elif self._plots_dirty and (self.model.state is not State.RUNNING or self.plot_budget.allows()):
            self.plot_budget.begin()
            self.replot_in_turn()

    def replot_in_turn(self) -> None:
        """`replot()`, each plot built in a frame of its own. A plot takes ~10 ms to build here idle and
        40-70 ms while training shares the cores: a key pressed meanwhile waits for one, not three."""
        with self.plots_in_turn():
            self.replot()

    @contextmanager
    def plots_in_turn(self, first_now: bool = True) -> Iterator[None]:
        """What the block changes on the plots in view is drawn one plot per frame: the first in this
        frame, or (`first_now=False`: the frame's own change, e.g. a new layout, is feedback enough)
        from the next."""
        view = self.query_one(DiagnosticsPanel) if self.model.show_diagnostics else self.query_one("#plots")
        plots = list(view.query(LossPlot).results(LossPlot))
        for plot in plots:
            plot.hold_redraw = plot.awaiting_turn = True
        try:
            yield
        finally:
            for plot in plots:
                plot.hold_redraw = False
            if first_now:
                self._redraw_in_turn(plots)
            else:
                self.call_after_refresh(self._redraw_in_turn, plots)

    def _redraw_in_turn(self, plots: list[LossPlot]) -> None:
        if plots:
            plots[0].redraw()
            if plots[1:]:
                self.call_after_refresh(self._redraw_in_turn, plots[1:])

    def visible_plots(self) -> list[LossPlot]:
        if self.model.show_diagnostics:
            return self.query_one(DiagnosticsPanel).log_plots()
        return list(self.query("#plots LossPlot").results(LossPlot))

    def head_plots(self) -> list[LossPlot]:
        return list(self.query("#plots LossPlot").results(LossPlot))

    def replot(self) -> None:
        self._plots_dirty = False
        if self.session is None:
            return
        history = self.session.history
        markers = history.markers()
        if self.model.show_diagnostics:
            self.query_one(DiagnosticsPanel).show_history(history, markers)
        elif self.comparison is not None:
            self._replot_comparison()
        else:
            for plot in self.head_plots():
                plot.set_series(history.snapshot(plot.head), markers, smoothing=self.model.smoothing)
        self.plot_updates += 1

    def _replot_comparison(self) -> None:
        """Overlay: every branch's train curve per head in its colour (the legend names them), the shared
        history before the fork in grey; one branch: its train and val. The fork is marked on every plot."""
        branches = self.model.branches
        assert branches is not None
        before_history = self.parent_session.history
        events = [e for e in before_history.markers() if e.step < branches.fork_step]
        events.append(Event(branches.fork_step, "fork", "fork"))
        events += [e for e in self.session.history.markers() if e.kind != "fork"]
        before = SeriesStyle("before fork", PARENT_COLOR, legend=False)
        colors = branches.colors
        for plot in self.head_plots():
            head = plot.head
            snapshot = {"before": before_history.snapshot(head)["train"]}
            styles = {"before": before}
            if branches.view is View.OVERLAY:  # the selected branch drawn last: on top where curves meet
                shown = [n for n in branches.names if n in self.comparison.branches]
                for name in shown:  # the legend in the branches' order
                    styles[name] = SeriesStyle(name, colors[name])
                for name in [n for n in shown if n != branches.current] + [branches.current]:
                    if name in self.comparison.branches:
                        snapshot[name] = self.comparison.branches[name].history.snapshot(head)["train"]
                note = "overlay"
            else:
                own = self.session.history.snapshot(head)
                snapshot.update(train=own["train"], val=own["val"])
                styles.update(train=SeriesStyle(f"{branches.current} train", TRAIN_COLOR),
                              val=SeriesStyle("val", VAL_COLOR, "dots"))
                note = f"branch {branches.current}"
            plot.set_series(snapshot, events, styles, note, smoothing=self.model.smoothing,
                            legend=branches.view is not View.OVERLAY)
        legend = self.query_one("#legend", Static)  # one line names every branch, whatever the width
        legend.update(Text.from_markup("branches  " + legend_markup(
            {n: SeriesStyle(n, colors[n]) for n in branches.names})) if branches.view is View.OVERLAY else "")
        legend.set_class(branches.view is View.OVERLAY, "-shown")

    # --- sending commands -------------------------------------------------------------------------

    def send(self, command: Callable[[], None]) -> bool:
        """Run one of the session's command methods; a refusal is shown, not raised."""
        if self.session is None:
            self.notify("The session is still loading." if self.model.phase is Phase.LOADING
                        else "There is no session.", severity="warning")
            return False
        try:
            command()
        except CommandError as err:
            self.notify(str(err), title="refused", severity="error")
            return False
        return True

    @property
    def selected_head(self) -> str | None:
        return self.query_one(HeadTable).selected_head
