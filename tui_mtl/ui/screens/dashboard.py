"""The dashboard: one Session trained in a thread worker, watched and steered by keyboard.

Data flow: the worker builds the Session (importing TensorFlow there), subscribes to its reports
and calls `Session.run`. Each report is queued and, if no message is already on its way, one
`ReportsReady` is posted (non-blocking) — so however fast the reports come, the UI handles them in
batches. Cheap text (table, progress) is updated per batch; the plots are rebuilt by a timer a few
times a second, only when there is new data. Commands (keys) go straight to the Session, which
validates them at once and applies them at the next step boundary; until then the UI shows the
requested value with a '…'.
"""

from __future__ import annotations

import gc
import json
import math
import queue
import re
import threading
import time
from pathlib import Path
from typing import Callable

from textual import on, work
from textual.app import ComposeResult
from textual.containers import Grid
from textual.screen import Screen
from textual.widgets import Footer

from tui_mtl.errors import CommandError
from tui_mtl.presets import Preset, save_user_preset, user_presets_dir
from tui_mtl.strategies.registry import STRATEGY_NAMES, parse_strategy_name
from tui_mtl.ui.formatting import fmt_rate, loss_label
from tui_mtl.ui.keys import DASHBOARD_KEYS, dashboard_bindings
from tui_mtl.reports import Event
from tui_mtl.ui.messages import (DeviceChanged, ForkFailed, ForkReady, Note, ReportsReady, SessionFailed, SessionReady,
                                 Toast, TrainingEnded)
from tui_mtl.ui.screens.dialogs import (ConfirmScreen, EditHeadScreen, ForkRequest, ForkScreen, HeadEdit,
                                        SavePresetScreen, SaveRequest)
from tui_mtl.ui.screens.help import HelpScreen
from tui_mtl.ui.widgets.diagnostics import DiagnosticsPanel, latest_from_history
from tui_mtl.ui.widgets.head_table import (COLUMNS, TRUNK, CompareRow, HeadRow, HeadTable, columns_width,
                                           compare_columns)
from tui_mtl.ui.widgets.loss_plot import PALETTE, PARENT_COLOR, TRAIN_COLOR, VAL_COLOR, LossPlot, SeriesStyle
from tui_mtl.ui.widgets.status import ErrorBanner, EventLine, ProgressPanel, StrategyBar, TitleBar

DEVICE_REFRESH_SECONDS = 2.0
SAVE_WAIT_SECONDS = 5.0
QUIT_WAIT_SECONDS = 10.0  # at most this long for the worker's final checkpoint after quitting


def adaptive(strategy: str | None) -> bool:
    """Whether the strategy's weighting moves the weights (uncertainty, DWA, GradNorm, FAMO, random)."""
    try:
        return strategy is not None and parse_strategy_name(strategy)[1] != "fixed"
    except ValueError:
        return False


def folder_name(branch: str) -> str:
    """A branch name as a folder name: 'grouped (x lr 0.0001)' -> 'grouped-x-lr-0.0001'."""
    return re.sub(r"[^A-Za-z0-9_.+-]+", "-", branch).strip("-") or "branch"


def last_point(table: dict, head: str) -> float | None:
    """The newest value of one of History's series tables (train / val / val_metric)."""
    series = table.get(head)
    if series is None or not len(series):
        return None
    return series.points()[1][-1]


class DashboardScreen(Screen[None]):
    BINDINGS = dashboard_bindings()

    def __init__(self, preset: Preset, preset_path: Path | None, *, session_factory: Callable,
                 device_probe: Callable, run_dir: Path | None = None, plot_hz: float = 2.0,
                 recorder_factory: Callable | None = None, resume_from: Path | None = None,
                 base_dir: Path | None = None) -> None:
        super().__init__()
        self.preset = preset
        self.preset_path = preset_path
        self.run_dir = run_dir
        self.base_dir = base_dir if base_dir is not None else (preset_path.parent if preset_path else None)
        self.resume_from = resume_from
        self._session_factory = session_factory
        self._recorder_factory = recorder_factory
        self._device_probe = device_probe
        self.note: str | None = None  # a one-off message shown at the start of the changes line
        self.plot_hz = plot_hz
        self.strategies: tuple[str, ...] = tuple(STRATEGY_NAMES)

        self.session = None  # set in the UI thread when SessionReady arrives
        self.state = "loading"
        self.device = "loading TensorFlow…"
        self.error: str | None = None
        self.last_report = None
        self.log_scale = False
        self.show_diagnostics = False
        self.last_diagnostics: dict | None = None
        self.last_diagnostics_step: int | None = None
        self.reports_seen = 0
        self.plot_updates = 0

        # A comparison (after `f`): self.session is then the current branch, the keys' target.
        self.comparison = None
        self.parent_session = None
        self.branch_names: list[str] = []
        self.branch_colors: dict[str, tuple] = {}
        self.branch_reports: dict = {}
        self.current_branch: str | None = None
        self.view = "overlay"  # or "one": the current branch alone
        self.fork_step: int | None = None
        self._fork_specs: list | None = None  # asked for; the worker forks at the next step boundary
        self._forking = False
        self._comparison = None  # worker side

        # Requested but not yet in force (applied by the engine at the next step boundary).
        self.pending_strategy: str | None = None
        self.pending_lr: dict[str, float] = {}
        self.pending_weight: dict[str, float] = {}
        self.pending_scale: dict[str, float] = {}
        self._want_paused = False
        self._fault_pause = False  # paused because of a fault: resuming clears the error

        # Worker <-> UI plumbing.
        self._queue_lock = threading.Lock()
        self._queued: list = []
        self._message_in_flight = False
        self._quit = threading.Event()
        self._wake = threading.Event()
        self._idle = threading.Event()  # set while the worker waits between runs
        self._worker_done = threading.Event()  # the worker returned (final checkpoint written)
        self._frozen_at = (0, 1)  # (traced step functions, sessions) when the GC last froze the heap
        self._jobs: queue.Queue = queue.Queue()  # callables the worker runs while idle
        self._run_requested = False
        self._next_steps = preset.training.steps
        self._worker_session = None  # set in the worker as soon as the Session exists
        self._recorders: dict = {}  # id(session) -> RunRecorder (worker-owned; read by the UI)
        self._plots_dirty = True
        self._text_dirty = True
        self._shown_state = ""
        self._ticks = 0
        self._last_device_probe = 0.0
        self._device_dynamic = False
        self._speed_marks: list[tuple[float, int]] = []  # (monotonic time, step) of reports, for benchmarks

    # --- layout ---------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield TitleBar(id="titlebar")
        yield StrategyBar(id="strategy")
        yield ErrorBanner(id="error")
        yield HeadTable(head_width=max(len(h) for h in self.preset.model.head_names + [TRUNK]), id="heads")
        with Grid(id="plots"):
            for head in self.preset.model.heads:
                yield LossPlot(head.name, loss_label(head.loss), id=f"plot-{head.name}")
        yield DiagnosticsPanel(self.preset.model.head_names, id="diagnostics")
        yield EventLine(id="events")
        yield ProgressPanel(id="progress")
        yield Footer()

    def on_mount(self) -> None:
        columns = min(len(self.preset.model.heads), 3)
        grid = self.query_one("#plots", Grid)
        grid.styles.grid_size_columns = columns
        grid.styles.grid_size_rows = math.ceil(len(self.preset.model.heads) / columns)
        self._refresh_text()
        self.set_interval(1 / (2 * self.plot_hz), self._tick, name="refresh")
        self._train()

    # --- the worker (training thread) -------------------------------------------------------

    def _train(self) -> None:
        """Start the training thread: a daemon thread, not a Textual worker, because Textual's shutdown
        joins its worker threads, and a quit while TensorFlow is still importing (seconds, and an import
        cannot be interrupted) would wait for it. The app waits only for a started session's final
        checkpoint (`wait_finished`)."""
        threading.Thread(target=self._train_thread, name="training", daemon=True).start()

    def _train_thread(self) -> None:
        try:
            self._train_loop()
        finally:
            self._close_recorders()
            self._worker_done.set()

    def _train_loop(self) -> None:
        if self._quit.is_set():  # quit before the session existed: nothing to build or save
            return
        try:
            session = self._session_factory(self.preset, self.base_dir)
            if self.resume_from is not None:
                session.load_checkpoint(self.resume_from)
        except BaseException as err:  # noqa: BLE001 — shown to the user, the app stays up
            self.post_message(SessionFailed(f"{type(err).__name__}: {err}"))
            return
        self._worker_session = session
        if self._quit.is_set():  # quit while it was being built: no run folder, nothing to train or save
            session.close()
            return
        self._open_recorder(self.run_dir, session)
        try:
            device, self._device_dynamic = self._device_probe(session)
        except Exception as err:  # noqa: BLE001
            device, self._device_dynamic = f"device unknown ({type(err).__name__})", False
        self._last_device_probe = time.monotonic()
        session.subscribe(self._on_report)
        self.post_message(SessionReady(session, device))
        steps = self.preset.training.steps
        trainer = session
        while not self._quit.is_set():
            if self._fork_specs is not None:
                specs, self._fork_specs = self._fork_specs, None
                forked = self._fork(session, specs) if trainer is session else None
                if forked is not None:
                    trainer, steps = forked, self.preset.training.steps
                else:
                    steps = self._remaining(session, steps)
            self._idle.clear()
            error = None
            try:
                trainer.run(steps)
            except Exception as err:  # noqa: BLE001 — the Session published an "error" report first
                error = f"{type(err).__name__}: {err}"
            if self._fork_specs is not None and error is None and not self._quit.is_set():
                continue  # stopped at a step boundary to fork
            self._idle.set()
            self.post_message(TrainingEnded(error))
            self._wait_for_work()
            self._run_requested = False
            steps = self._next_steps

    @staticmethod
    def _remaining(session, steps: int) -> int:
        report = session.last_report
        if report is None:
            return steps
        left = report.target_step - session.step_count
        return left if left > 0 else steps

    def _fork(self, parent, specs: list):
        """In the worker, at a step boundary: fork the parent into a Comparison (None if refused)."""
        try:
            comparison = parent.fork(specs)
        except Exception as err:  # noqa: BLE001 — e.g. not enough device memory: said, not fatal
            self.post_message(ForkFailed(str(err) if isinstance(err, CommandError) else f"{type(err).__name__}: {err}"))
            return None
        self._comparison = comparison
        if self.run_dir is not None:
            for name, branch in comparison.branches.items():
                self._open_recorder(Path(self.run_dir) / "branches" / folder_name(name), branch)
        comparison.subscribe(self._on_branch_reports)
        self.post_message(ForkReady(comparison))
        return comparison

    def _on_branch_reports(self, reports: dict) -> None:
        """The training thread, for every comparison report: {branch: Report}, queued like single reports."""
        if self._quit.is_set() and self._comparison is not None:
            self._comparison.stop()  # a stop that lands before run() starts would be lost: repeat it
        self._on_report(reports)

    def _wait_for_work(self) -> None:
        """Idle: run jobs (checkpoints) as they come until another run is asked for or we quit."""
        while True:
            self._wake.wait()
            self._wake.clear()
            self._run_jobs()
            if self._quit.is_set() or self._run_requested:
                return

    def _run_jobs(self) -> None:
        while True:
            try:
                job = self._jobs.get_nowait()
            except queue.Empty:
                return
            try:
                job()
            except Exception as err:  # noqa: BLE001 — a job's failure is a message, not a crash
                self.post_message(Note(f"{type(err).__name__}: {err}", error=True))

    def _submit_job(self, job: Callable[[], None]) -> None:
        self._jobs.put(job)
        self._wake.set()

    def _open_recorder(self, run_dir: Path | None, session) -> None:
        if run_dir is None or self._recorder_factory is None:
            return
        try:
            self._recorders[id(session)] = self._recorder_factory(Path(run_dir), session)
        except Exception as err:  # noqa: BLE001 — training goes on without a run folder
            self.post_message(Note(f"run folder not written: {type(err).__name__}: {err}", error=True))

    def _freeze_after_tracing(self) -> None:
        """After TensorFlow traced something new (or branches came or went): collect, then freeze.

        TensorFlow, Keras and every traced step leave a million long-lived Python objects, and each
        full garbage collection walked them all: a 200-250 ms pause of both threads every ~25 s,
        the worst frame of a long run. Frozen objects are skipped by later collections. Unfreezing
        and collecting first means no garbage stays frozen (a dropped branch is reclaimed).
        """
        sessions = list(self._comparison.branches.values()) if self._comparison is not None else [self._worker_session]
        traced = sum(sum(getattr(s, "trace_counts", {}).values()) for s in sessions if s is not None)
        if (traced, len(sessions)) != self._frozen_at:
            gc.unfreeze()
            gc.collect()
            gc.freeze()
            self._frozen_at = (traced, len(sessions))

    def _close_recorders(self) -> None:
        """In the worker, after the last run returned: flush every run folder, final checkpoints."""
        for recorder in list(self._recorders.values()):
            try:
                recorder.close(final_checkpoint=True)
            except Exception as err:  # noqa: BLE001
                self.post_message(Note(f"final checkpoint failed: {type(err).__name__}: {err}", error=True))
        self._recorders.clear()

    def _on_report(self, report) -> None:
        """Runs in the training thread for every report: queue it, post at most one message."""
        step = report.step if not isinstance(report, dict) else max((r.step for r in report.values()), default=0)
        self._speed_marks.append((time.monotonic(), step))
        self._freeze_after_tracing()
        if self._device_dynamic and time.monotonic() - self._last_device_probe > DEVICE_REFRESH_SECONDS:
            self._last_device_probe = time.monotonic()
            try:
                self.post_message(DeviceChanged(self._device_probe(self._worker_session)[0]))
            except Exception:  # noqa: BLE001 — best effort
                self._device_dynamic = False
        with self._queue_lock:
            self._queued.append(report)
            if self._message_in_flight:
                return
            self._message_in_flight = True
        self.post_message(ReportsReady())

    def shutdown(self) -> None:
        """Stop training at the next step and let the worker return (any thread); the worker then
        writes the final checkpoint (`wait_finished`)."""
        self._quit.set()
        session = self._worker_session
        if session is not None:
            session.close()
        if self._comparison is not None:
            self._comparison.stop()
        self._wake.set()

    def wait_finished(self, timeout: float | None = QUIT_WAIT_SECONDS) -> bool:
        """Block until the worker returned (final checkpoint written); False after `timeout` (None: no limit)."""
        if self._worker_session is None and not self._worker_done.is_set():
            return True  # the session never started: nothing to save
        return self._worker_done.wait(timeout)

    def on_unmount(self) -> None:
        self.shutdown()
        self._write_summary()

    def _write_summary(self) -> None:
        """ui-summary.json in the run folder: wall-clock steps/s seen by the UI (for benchmarks)."""
        if self.run_dir is None or len(self._speed_marks) < 2:
            return
        marks = [m for m in self._speed_marks if m[1] > 0]
        summary = {"reports": len(self._speed_marks), "plot_updates": self.plot_updates}
        if len(marks) >= 2 and marks[-1][0] > marks[0][0]:
            summary.update(first_step=marks[0][1], last_step=marks[-1][1],
                           seconds=marks[-1][0] - marks[0][0],
                           steps_per_sec=(marks[-1][1] - marks[0][1]) / (marks[-1][0] - marks[0][0]))
        try:
            (Path(self.run_dir) / "ui-summary.json").write_text(json.dumps(summary, indent=1))
        except OSError:
            pass

    # --- messages from the worker (UI thread) -------------------------------------------------

    @on(SessionReady)
    def _session_ready(self, message: SessionReady) -> None:
        self.session = message.session
        self.device = message.device
        self.state = "running"
        self._want_paused = bool(getattr(self.session, "paused", False))
        self._refresh_text()

    @on(SessionFailed)
    def _session_failed(self, message: SessionFailed) -> None:
        self.state = "error"
        self.device = "no session"
        self.error = f"Could not start the session: {message.message}"
        self._refresh_text()

    @on(ForkReady)
    def _fork_ready(self, message: ForkReady) -> None:
        comparison = message.comparison
        self.comparison = comparison
        self.parent_session = self.session
        self.branch_names = list(comparison.branches)
        self.branch_colors = {name: PALETTE[i % len(PALETTE)] for i, name in enumerate(self.branch_names)}
        self.branch_reports = {}
        self.current_branch = self.branch_names[0]
        self.session = comparison.branches[self.current_branch]
        self.fork_step = comparison.fork_step
        self.view = "overlay"
        self.pending_strategy = None
        self.pending_lr.clear(), self.pending_weight.clear(), self.pending_scale.clear()
        self._forking = False
        self._want_paused = False
        self.state = "running"
        self.note = f"forked at step {self.fork_step:,} into {', '.join(self.branch_names)}"
        self._plots_dirty = True
        self._refresh_text()

    @on(ForkFailed)
    def _fork_failed(self, message: ForkFailed) -> None:
        self._forking = False
        if self.state == "stopped":
            self.state = "running"
        self.notify(message.message, title="not forked", severity="error")
        self._refresh_text()

    @on(Note)
    def _noted(self, message: Note) -> None:
        self.note = message.text
        if message.error:
            self.notify(message.text, severity="error")
        self._refresh_text()

    @on(DeviceChanged)
    def _device_changed(self, message: DeviceChanged) -> None:
        self.device = message.device
        self._refresh_text()

    @on(ReportsReady)
    def _reports_ready(self, _message: ReportsReady) -> None:
        with self._queue_lock:
            reports, self._queued = self._queued, []
            self._message_in_flight = False
        for report in reports:
            self._take_report(report)
        # Text is refreshed by the timer (a few times a second), except when the state changed.
        last = reports[-1] if reports else None
        if isinstance(last, dict):
            last = next(iter(last.values()), None)
        if last is not None and (last.state != "running" or self.state != self._shown_state):
            self._refresh_text()
        self._text_dirty = True

    def _take_report(self, report) -> None:
        if isinstance(report, dict):  # a comparison's reports, {branch: Report}
            reports = {name: r for name, r in report.items() if name in self.branch_names}
            if not reports:
                return
            self.branch_reports.update(reports)
            faulty = next((r for r in reports.values() if r.message), None)
            report = faulty or reports.get(self.current_branch) or next(iter(reports.values()))
        elif self.comparison is not None:
            return  # the parent's last report, after the fork
        elif self._forking and report.state == "stopped":
            self.last_report = report
            return  # stopped to fork: not a state the user asked for
        self.reports_seen += 1
        self.last_report = report
        self._plots_dirty = True
        if report.diagnostics:
            self.last_diagnostics = dict(report.diagnostics)
            self.last_diagnostics_step = report.step
        for event in report.events:
            if event.kind == "checkpoint":
                self.note = f"checkpoint saved at step {event.step:,}"
        if report.state == "error":
            self.state = "error"
            self.error = report.message or "training failed"
            return
        if report.message and report.state in ("paused", "running"):
            # The engine paused itself (e.g. a non-finite loss: the step was skipped); say why.
            self.state = "error"
            self.error = report.message
            self._want_paused = True
            self._fault_pause = True
            return
        bad = {h: v for h, v in report.train_loss.items() if not math.isfinite(v)}
        if bad and self.state != "error":  # an engine that does not check: pause it ourselves
            head, value = next(iter(bad.items()))
            self._pauser().pause()
            self._want_paused = True
            self._fault_pause = True
            self.state = "error"
            self.error = (f"Non-finite loss: {head} = {value} at step {report.step}. Training is paused. "
                          "Lower a rate (e, [) and resume (space), or restart (r).")
            return
        if self.state != "error":
            self.state = report.state

    @on(TrainingEnded)
    def _training_ended(self, message: TrainingEnded) -> None:
        if message.error:
            self.state = "error"
            self.error = message.error
        elif self.state != "error" and self.last_report is not None:
            self.state = self.last_report.state
        self._refresh_text()

    # --- drawing ------------------------------------------------------------------------------

    def _current(self) -> tuple[dict, dict, dict, str]:
        """Rates, weights, loss scales and strategy in force (the preset's before the session exists)."""
        if self.session is not None:
            return (dict(self.session.learning_rates), dict(self.session.weights),
                    dict(self.session.loss_scales), self.session.strategy)
        p = self.preset
        rates = {TRUNK: p.training.trunk_learning_rate, **{h.name: h.learning_rate for h in p.model.heads}}
        return (rates, {h.name: h.weight for h in p.model.heads}, {h.name: h.loss_scale for h in p.model.heads},
                p.strategy.name)

    def _settle_pending(self) -> None:
        rates, weights, scales, strategy = self._current()
        if self.pending_strategy is not None and self.pending_strategy == strategy:
            self.pending_strategy = None
        for pending, actual in ((self.pending_lr, rates), (self.pending_weight, weights), (self.pending_scale, scales)):
            for head in [h for h, v in pending.items() if actual.get(h) == v]:
                del pending[head]

    @property
    def has_pending(self) -> bool:
        self._settle_pending()
        return bool(self.pending_strategy or self.pending_lr or self.pending_weight or self.pending_scale)

    def compare_rows(self) -> list[CompareRow]:
        """One row per head: every branch's train/best/val side by side, the best branch starred."""
        self._settle_pending()
        rates = self._current()[0]
        table = self.query_one(HeadTable)
        width = table.size.width or self.app.size.width
        with_best = columns_width(compare_columns(self.branch_names, "", True)) <= width
        table.set_columns(compare_columns(self.branch_names, self.current_branch, with_best))
        rows = []
        for head in self.preset.model.head_names:
            values = []
            for name in self.branch_names:
                branch = self.comparison.branches.get(name)
                report = self.branch_reports.get(name)
                history = branch.history if branch is not None else None
                values.append([report.train_loss.get(head) if report else None,
                               history.best_train.get(head) if history is not None else None,
                               last_point(history.val, head) if history is not None else None, False])
            with_val = [v for v in values if v[2] is not None]
            candidates = with_val if len(with_val) == len(values) else [v for v in values if v[0] is not None]
            if len(candidates) > 1:
                key = 2 if candidates is with_val else 0
                min(candidates, key=lambda v: v[key])[3] = True
            rows.append(CompareRow(head, self.pending_lr.get(head, rates.get(head)), head in self.pending_lr,
                                   tuple(tuple(v) for v in values), with_best))
        rows.append(CompareRow(TRUNK, self.pending_lr.get(TRUNK, rates.get(TRUNK)), TRUNK in self.pending_lr,
                               tuple((None, None, None, False) for _ in self.branch_names), with_best))
        return rows

    def head_rows(self) -> list[HeadRow]:
        self._settle_pending()
        rates, weights, _scales, strategy = self._current()
        history = self.session.history if self.session is not None else None
        report = self.last_report
        effective = report.effective_weights if report is not None and adaptive(strategy) else None
        rows = []
        for head in self.preset.model.heads:
            name = head.name
            rows.append(HeadRow(
                head=name, loss=head.loss,
                weight=self.pending_weight.get(name, weights.get(name)),
                effective=effective.get(name) if effective else None,
                lr=self.pending_lr.get(name, rates.get(name)),
                train=report.train_loss.get(name) if report else None,
                best=history.best_train.get(name) if history is not None else None,
                val=last_point(history.val, name) if history is not None else None, metric_name=head.metric,
                metric=last_point(history.val_metric, name) if history is not None else None,
                pending=name in self.pending_lr or name in self.pending_weight,
            ))
        rows.append(HeadRow(TRUNK, "shared", None, self.pending_lr.get(TRUNK, rates.get(TRUNK)), None, None, None,
                            None, None, pending=TRUNK in self.pending_lr))
        return rows

    def _refresh_text(self) -> None:
        self._text_dirty = False
        self._shown_state = self.state
        self._settle_pending()
        _rates, _weights, _scales, strategy = self._current()
        self.query_one(TitleBar).show(f"tui-mtl · {self.preset.name}", self.device, self.state)
        branch = None
        if self.comparison is not None:
            index = self.branch_names.index(self.current_branch) + 1
            branch = f"{self.current_branch} ({index}/{len(self.branch_names)}, {self.view})"
        self.query_one(StrategyBar).show(strategy, self.strategies, self.pending_strategy, branch=branch)
        self.query_one(ErrorBanner).show(self.error)
        if self.comparison is not None:
            self.query_one(HeadTable).show(self.compare_rows())
        else:
            self.query_one(HeadTable).set_columns(COLUMNS)
            self.query_one(HeadTable).show(self.head_rows())
        report = self.last_report
        if report is not None:
            self.query_one(ProgressPanel).show(report.step, report.target_step, report.steps_per_sec, self.state)
        else:
            self.query_one(ProgressPanel).show(0, self.preset.training.steps, 0.0, self.state)
        events = self.session.history.markers() if self.session is not None else []
        self.query_one(EventLine).show(events, self.note)
        if self.show_diagnostics:
            diagnostics, step = self.last_diagnostics, self.last_diagnostics_step
            if diagnostics is None and self.session is not None:  # e.g. a resumed run: from its history
                diagnostics, step = latest_from_history(self.session.history, self.preset.model.head_names)
            self.query_one(DiagnosticsPanel).show_latest(
                diagnostics, report.effective_weights if report is not None else None,
                step, self.preset.training.diagnostics_every)

    def _tick(self) -> None:
        """Timer: text and plots take turns (each at plot_hz), so no tick does both; keys and state
        changes refresh the text at once, outside the timer."""
        self._ticks += 1
        if self._ticks % 2:
            if self._text_dirty or self.has_pending:
                self._refresh_text()
        elif self._plots_dirty:
            self.replot()

    def replot(self) -> None:
        self._plots_dirty = False
        if self.session is None:
            return
        history = self.session.history
        markers = history.markers()
        if self.show_diagnostics:
            self.query_one(DiagnosticsPanel).show_history(history, markers)
        elif self.comparison is not None:
            self._replot_comparison()
        else:
            for plot in self.head_plots():
                plot.set_series(history.snapshot(plot.head), markers)
        self.plot_updates += 1

    def _replot_comparison(self) -> None:
        """Overlay: every branch's train curve per head in its colour (the legend names them), the shared
        history before the fork in grey; one branch: its train and val. The fork is marked on every plot."""
        before_history = self.parent_session.history
        events = [e for e in before_history.markers() if e.step < self.fork_step]
        events.append(Event(self.fork_step, "fork", "fork"))
        events += [e for e in self.session.history.markers() if e.kind != "fork"]
        before_style = SeriesStyle("before fork", PARENT_COLOR, legend=False)
        for plot in self.head_plots():
            head = plot.head
            snapshot = {"before": before_history.snapshot(head)["train"]}
            styles = {"before": before_style}
            if self.view == "overlay":
                for name in self.branch_names:
                    branch = self.comparison.branches.get(name)
                    if branch is not None:
                        snapshot[name] = branch.history.snapshot(head)["train"]
                        styles[name] = SeriesStyle(name, self.branch_colors[name])
                note = "overlay"
            else:
                own = self.session.history.snapshot(head)
                snapshot.update(train=own["train"], val=own["val"])
                styles.update(train=SeriesStyle(f"{self.current_branch} train", TRAIN_COLOR),
                              val=SeriesStyle("val", VAL_COLOR, "dots"))
                note = f"branch {self.current_branch}"
            plot.set_series(snapshot, events, styles, note)

    def head_plots(self) -> list[LossPlot]:
        return list(self.query("#plots LossPlot").results(LossPlot))

    # --- keys ---------------------------------------------------------------------------------

    def _command(self, fn_name: str, *args) -> bool:
        if self.session is None:
            self.notify("The session is still loading." if self.state == "loading" else "There is no session.",
                        severity="warning")
            return False
        try:
            getattr(self.session, fn_name)(*args)
        except CommandError as err:
            self.notify(str(err), title="refused", severity="error")
            return False
        return True

    @property
    def selected_head(self) -> str | None:
        return self.query_one(HeadTable).selected_head

    def _pauser(self):
        """What space pauses: the comparison (every branch together) or the session."""
        return self.comparison if self.comparison is not None else self.session

    def action_toggle_pause(self) -> None:
        if self.session is None:
            self._command("pause")
            return
        if self.comparison is not None and not self._idle.is_set():
            if self.comparison.paused:
                self.comparison.resume()
                self._want_paused = False
                if self._fault_pause:
                    self._fault_pause = False
                    self.error = None
                    self.state = "running"
            else:
                self.comparison.pause()
                self._want_paused = True
            self._refresh_text()
            return
        if self._idle.is_set():  # finished, stopped or failed: train another run
            self._continue_training(self.preset.training.steps)
            return
        if self._want_paused:
            if self._command("resume"):
                self._want_paused = False
                if self._fault_pause:
                    self._fault_pause = False
                    self.error = None
                    self.state = "running"
        elif self._command("pause"):
            self._want_paused = True
        self._refresh_text()

    def _continue_training(self, steps: int) -> None:
        self.error = None
        self.state = "running"
        if self._want_paused:
            self._command("resume")
            self._want_paused = False
        if self.comparison is not None and self.comparison.paused:
            self.comparison.resume()
        self._next_steps = steps
        self._run_requested = True
        self._wake.set()
        self._refresh_text()

    def _strategy_shown(self) -> str:
        return self.pending_strategy or self._current()[3]

    def action_next_strategy(self) -> None:
        current = self._strategy_shown()
        names = self.strategies
        index = (names.index(current) + 1) % len(names) if current in names else 0
        self.action_pick_strategy(index)

    def action_previous_strategy(self) -> None:
        current = self._strategy_shown()
        names = self.strategies
        index = (names.index(current) - 1) % len(names) if current in names else 0
        self.action_pick_strategy(index)

    def action_pick_strategy(self, index: int) -> None:
        if not (0 <= index < len(self.strategies)):
            self.notify(f"There is no strategy {index + 1}; keys 1–{len(self.strategies)} pick one.",
                        severity="warning")
            return
        name = self.strategies[index]
        if self._command("set_strategy", name):
            self.pending_strategy = name
            self._refresh_text()

    def action_cursor_up(self) -> None:
        self.query_one(HeadTable).action_cursor_up()

    def action_cursor_down(self) -> None:
        self.query_one(HeadTable).action_cursor_down()

    def _rate_of(self, head: str) -> float:
        return self.pending_lr.get(head, self._current()[0][head])

    def _set_lr(self, head: str, rate: float) -> None:
        if self._command("set_lr", head, rate):
            self.pending_lr[head] = float(rate)
            self._refresh_text()

    def action_lr_up(self) -> None:
        head = self.selected_head
        if head is not None:
            self._set_lr(head, self._rate_of(head) * 2)

    def action_lr_down(self) -> None:
        head = self.selected_head
        if head is not None:
            self._set_lr(head, self._rate_of(head) / 2)

    def action_edit(self) -> None:
        head = self.selected_head
        if head is None:
            return
        rates, weights, scales, _ = self._current()
        if head == TRUNK:
            screen = EditHeadScreen(TRUNK, self._rate_of(TRUNK))
        else:
            screen = EditHeadScreen(head, self._rate_of(head), self.pending_weight.get(head, weights[head]),
                                    self.pending_scale.get(head, scales[head]))

        def done(edit: HeadEdit | None) -> None:
            if edit is None:
                return
            if edit.learning_rate is not None:
                self._set_lr(head, edit.learning_rate)
            if edit.weight is not None and self._command("set_weight", head, edit.weight):
                self.pending_weight[head] = float(edit.weight)
            if edit.loss_scale is not None and self._command("set_loss_scale", head, edit.loss_scale):
                self.pending_scale[head] = float(edit.loss_scale)
            self._refresh_text()

        self.app.push_screen(screen, done)

    def action_toggle_log(self) -> None:
        self.log_scale = not self.log_scale
        for plot in self.head_plots():
            plot.set_log(self.log_scale)

    def action_toggle_diagnostics(self) -> None:
        """Show the diagnostics panel in place of the loss plots (and back)."""
        self.show_diagnostics = not self.show_diagnostics
        self.query_one("#plots").display = not self.show_diagnostics
        self.query_one(DiagnosticsPanel).set_class(self.show_diagnostics, "-shown")
        self._plots_dirty = True
        self._refresh_text()
        self.replot()

    def action_help(self) -> None:
        self.app.push_screen(HelpScreen(self.strategies))

    def recorder_of(self, session):
        return self._recorders.get(id(session)) if session is not None else None

    def action_checkpoint(self) -> None:
        """Save a checkpoint now: at the next step boundary while training, in the worker when idle."""
        session = self.session
        if session is None:
            self._command("save_checkpoint")
            return
        recorder = self.recorder_of(session)
        if recorder is None:
            self.notify("This session has no run folder, so there is nowhere to save a checkpoint.",
                        severity="warning")
            return
        path = recorder.checkpoint_path
        if self._idle.is_set():
            def job() -> None:
                recorder.save_checkpoint()
                self.post_message(Note(f"checkpoint saved at step {session.step_count:,} → {path}"))

            self._submit_job(job)
        elif not self._command("save_checkpoint", path):
            return
        self.note = f"checkpoint requested → {path}"
        self._refresh_text()

    def action_restart(self) -> None:
        if self.comparison is not None:
            self.notify("Restart is not available during a comparison: drop branches (x) or quit.",
                        severity="warning")
            return
        if self.session is None:
            self._command("reset")
            return

        def done(yes: bool | None) -> None:
            if not yes or not self._command("reset"):
                return
            self.error = None
            self._plots_dirty = True
            if self._idle.is_set():
                self._continue_training(self.preset.training.steps)
            self._refresh_text()

        self.app.push_screen(ConfirmScreen("Restart from fresh weights?\nThe optimizer state and the plotted "
                                           "history are cleared; rates, weights and strategy stay."), done)

    # --- forks ---------------------------------------------------------------------------------

    def action_fork(self) -> None:
        """Pick branches; the worker stops the run at a step boundary, forks and trains them in lockstep."""
        if self.session is None:
            self._command("fork")
            return
        if self.comparison is not None or self._forking:
            self.notify("Already comparing branches: drop the ones you do not need (x).", severity="warning")
            return
        if self.state == "error" and not self._fault_pause:
            self.notify("The session failed; restart (r) before forking.", severity="warning")
            return

        def done(request: ForkRequest | None) -> None:
            if request is not None:
                self.request_fork(request.branches)

        self.app.push_screen(ForkScreen(self.strategies, self._strategy_shown(), self.preset.model.head_names),
                             done)

    def request_fork(self, branches: list) -> None:
        self._forking = True
        self._fork_specs = list(branches)
        self.note = f"forking into {len(branches)} branch(es) at the next step…"
        if self._idle.is_set():
            self._run_requested = True
            self._wake.set()
        else:
            if self._want_paused:
                self._command("resume")
                self._want_paused = False
            self.session.stop()
        self._refresh_text()

    def _need_comparison(self) -> bool:
        if self.comparison is None:
            self.notify("No branches: fork first (f).", severity="warning")
            return False
        return True

    def _select_branch(self, name: str) -> None:
        self.current_branch = name
        self.session = self.comparison.branches[name]
        self.pending_strategy = None
        self.pending_lr.clear(), self.pending_weight.clear(), self.pending_scale.clear()
        report = self.branch_reports.get(name)
        if report is not None:
            self.last_report = report
        self._plots_dirty = True
        self._refresh_text()

    def action_cycle_view(self) -> None:
        """Overlay → one branch (each in turn) → overlay."""
        if not self._need_comparison():
            return
        if self.view == "overlay":
            self.view = "one"
            self._select_branch(self.branch_names[0])
        else:
            index = self.branch_names.index(self.current_branch) + 1
            if index >= len(self.branch_names):
                self.view = "overlay"
                self._select_branch(self.current_branch)
            else:
                self._select_branch(self.branch_names[index])
        self.replot()

    def action_next_branch(self) -> None:
        """The branch the keys act on (and the one shown in the one-branch view)."""
        if not self._need_comparison():
            return
        index = (self.branch_names.index(self.current_branch) + 1) % len(self.branch_names)
        self._select_branch(self.branch_names[index])
        self.replot()

    def action_drop_branch(self) -> None:
        if not self._need_comparison():
            return
        name = self.current_branch
        if len(self.branch_names) == 1:
            self.notify(f"{name} is the last branch; it cannot be dropped.", severity="warning")
            return
        try:
            self.comparison.drop(name)
        except CommandError as err:
            self.notify(str(err), title="refused", severity="error")
            return
        index = self.branch_names.index(name)
        self.branch_names.remove(name)
        self.branch_reports.pop(name, None)
        self.note = f"dropped branch {name}"
        self._select_branch(self.branch_names[min(index, len(self.branch_names) - 1)])
        self.replot()

    # --- saving -------------------------------------------------------------------------------

    def action_save(self) -> None:
        if self.session is None:
            self._command("current_preset")
            return
        strategy = self._strategy_shown().replace("+", "-")
        default = f"{self.preset.name}-{strategy}"[:64]
        folder = user_presets_dir()

        def exists(name: str) -> bool:
            return (folder / f"{name}.toml").exists()

        def done(request: SaveRequest | None) -> None:
            if request is None:
                return
            if exists(request.name):
                def confirmed(yes: bool | None) -> None:
                    if yes:
                        self._save_when_applied(request, overwrite=True)
                    else:
                        self.notify("Not saved.", severity="warning")
                self.app.push_screen(ConfirmScreen(f"A preset named {request.name!r} exists in {folder}.\n"
                                                   "Replace it?", yes="Replace", no="Keep"), confirmed)
            else:
                self._save_when_applied(request, overwrite=False)

        self.app.push_screen(SavePresetScreen(default, self.preset.description, str(folder), exists), done)

    def _save_when_applied(self, request: SaveRequest, *, overwrite: bool) -> None:
        """Save once every change sent is in force (`Session.flush`, in a thread: it waits for the
        next step boundary), so the file holds what the user sees."""
        self._save_worker(self.session, request, overwrite)

    @work(thread=True, group="save", exit_on_error=False, name="save")
    def _save_worker(self, session, request: SaveRequest, overwrite: bool) -> None:
        # post_message, never call_from_thread: a quit meanwhile must not leave this thread waiting
        flush = getattr(session, "flush", None)
        if flush is not None and not flush(SAVE_WAIT_SECONDS):
            self.post_message(Toast("Training did not reach a step boundary in time; saved the settings in force.",
                                    severity="warning"))
        try:
            preset = session.current_preset(name=request.name, description=request.description or None)
            path = save_user_preset(preset, overwrite=overwrite)
        except FileExistsError as err:
            self.post_message(Toast(f"{err} exists; not replaced.", severity="error"))
            return
        except Exception as err:  # noqa: BLE001 — validation or disk errors, shown in one line
            self.post_message(Toast(f"{type(err).__name__}: {err}", title="not saved", severity="error"))
            return
        rates = ", ".join(f"{h} {fmt_rate(preset.model.head(h).learning_rate)}" for h in preset.model.head_names)
        self.post_message(Toast(f"{path}\nstrategy {preset.strategy.name}; lr {rates}", title="preset saved"))

    @on(Toast)
    def _toast(self, message: Toast) -> None:
        self.notify(message.text, title=message.title, severity=message.severity)

    # --- command palette ---------------------------------------------------------------------

    def palette_commands(self):
        from textual.app import SystemCommand

        for key in DASHBOARD_KEYS:
            if key.action in ("quit", "cursor_up", "cursor_down"):
                continue
            yield SystemCommand(key.help.split(" (")[0], f"key: {key.shown}",
                                getattr(self, f"action_{key.action}"))
        for i, name in enumerate(self.strategies):
            yield SystemCommand(f"Strategy: {name}", f"key: {i + 1}" if i < 9 else "",
                                lambda i=i: self.action_pick_strategy(i))
