"""The training worker: the one thread that runs TensorFlow for the app.

It builds the Session (importing TensorFlow there, so the first frame is on screen long before),
opens the run folders, and *serves* the session: trains towards the target, then waits for
commands, which the UI sends straight to the session's thread-safe methods. Reports are buffered
and at most one `ReportsReady` is in flight, so however fast they come the UI handles them in
batches. Forks and quitting reach the worker through a queue; nothing else is shared.

A daemon thread, not a Textual worker: Textual's shutdown joins its workers, and a quit while
TensorFlow is still importing (seconds, uninterruptible) would wait for it. The app waits only for
a started session's final checkpoint (`wait_finished`).
"""

from __future__ import annotations

import gc
import queue
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from textual.message import Message

from tui_mtl.errors import CommandError, TuiMtlError
from tui_mtl.runs import folder_name
from tui_mtl.ui.fork_report import ForkReport
from tui_mtl.ui.messages import (DeviceChanged, ForkFailed, ForkReady, Note, ReportsReady, SessionFailed, SessionReady,
                                 Toast, TrainingFailed)

DEVICE_REFRESH_SECONDS = 2.0


@dataclass(frozen=True)
class ForkRequest:
    branches: list  # specs for fork(): strategy names or {"strategy", "lr", "weight", "name"}


class ReportBuffer:
    """Reports from the training thread, handed to the UI in batches (one message in flight)."""

    def __init__(self, post: Callable[[Message], Any]):
        self._post = post
        self._lock = threading.Lock()
        self._items: list = []
        self._in_flight = False

    def push(self, item: Any) -> None:
        with self._lock:
            self._items.append(item)
            if self._in_flight:
                return
            self._in_flight = True
        self._post(ReportsReady())

    def drain(self) -> list:
        with self._lock:
            items, self._items = self._items, []
            self._in_flight = False
        return items


class TrainingWorker:
    def __init__(self, post: Callable[[Message], Any], *, preset: Any, base_dir: Path | None, run_dir: Path | None,
                 resume_from: Path | None, session_factory: Callable, recorder_factory: Callable | None,
                 device_probe: Callable):
        self._post = post
        self.preset = preset
        self.base_dir = base_dir
        self.run_dir = run_dir
        self.resume_from = resume_from
        self._session_factory = session_factory
        self._recorder_factory = recorder_factory
        self._device_probe = device_probe
        self.reports = ReportBuffer(post)
        self._requests: queue.Queue = queue.Queue()
        self._quit = threading.Event()
        self._done = threading.Event()
        self._lock = threading.Lock()  # guards _trainer and _started
        self._trainer: Any = None  # the Session or Comparison being served
        self._started = False  # a session exists: its final checkpoint must be waited for
        self._recorders: list = []
        self._fork_report: ForkReport | None = None  # the comparison being served, if it has a run folder
        self._device_dynamic = False
        self._last_probe = 0.0
        self._frozen_at: tuple = ()
        self._reported_at: tuple = ()  # the trace counts of the last report sent before a collection

    # --- the UI's side (any thread) ------------------------------------------------------

    def start(self) -> None:
        threading.Thread(target=self._run, name="training", daemon=True).start()

    def request_fork(self, branches: list) -> None:
        """Fork at the next step boundary (the UI pauses training while the dialog is open)."""
        self._requests.put(ForkRequest(list(branches)))
        with self._lock:
            if self._trainer is not None:
                self._trainer.stop()

    def shutdown(self) -> None:
        """Stop training at the next step; the worker then writes the final checkpoints."""
        self._quit.set()
        self._requests.put(None)
        with self._lock:
            if self._trainer is not None:
                self._trainer.close()

    def wait_finished(self, timeout: float | None = 10.0) -> bool:
        """Block until the worker returned (final checkpoint written); False after `timeout`."""
        with self._lock:
            started = self._started
        if not started and not self._done.is_set():
            return True  # the session never started: nothing to save
        return self._done.wait(timeout)

    # --- the training thread ---------------------------------------------------------------

    def _run(self) -> None:
        try:
            session = self._build()
            if session is not None:
                self._serve(session)
        finally:  # the checkpoints first: they are what a quit must never lose
            for recorder in self._recorders:
                try:
                    recorder.close(final_checkpoint=True)
                except Exception as err:  # noqa: BLE001 — said, and the others still close
                    self._post(Note(f"final checkpoint failed: {type(err).__name__}: {err}", error=True))
            self._write_fork_report(final=True)
            self._done.set()

    def _build(self) -> Any:
        if self._quit.is_set():  # quit before the session existed: nothing to build or save
            return None
        try:
            session = self._session_factory(self.preset, self.base_dir)
            if self.resume_from is not None:
                session.load_checkpoint(self.resume_from)
        except BaseException as err:  # noqa: BLE001 — shown to the user, the app stays up
            self._post(SessionFailed(str(err) if isinstance(err, TuiMtlError) else f"{type(err).__name__}: {err}"))
            return None
        with self._lock:
            if self._quit.is_set():  # quit while it was being built: no run folder, nothing to save
                session.close()
                return None
            self._started = True
            self._trainer = session
        self._open_recorder(self.run_dir, session)
        gc.freeze()  # the model and its data live on: the first trace's collections skip them (~0.25 s)
        try:
            device, self._device_dynamic = self._device_probe(session)
        except Exception as err:  # noqa: BLE001 — best effort
            device = f"device unknown ({type(err).__name__})"
        self._last_probe = time.monotonic()
        session.subscribe(self._on_report)
        self._post(SessionReady(session, device))
        return session

    def _serve(self, session: Any) -> None:
        trainer = session
        if self.resume_from is not None:
            from tui_mtl.engine.checkpoint import read_meta, resume_target

            target = resume_target(session.step_count, read_meta(self.resume_from).get("target"),
                                   self.preset.training.steps)
            trainer.extend(target - session.step_count)
        else:
            trainer.extend(self.preset.training.steps)
        while not self._quit.is_set():
            try:
                trainer.serve()
            except Exception as err:  # noqa: BLE001 — published as an "error" report; wait for a restart
                self._post(TrainingFailed(str(err)))
                continue
            request = self._next_request()
            if isinstance(request, ForkRequest) and trainer is session:
                trainer = self._fork(session, request.branches) or session

    def _next_request(self) -> ForkRequest | None:
        try:
            return self._requests.get_nowait()
        except queue.Empty:
            return None

    def _fork(self, parent: Any, branches: list) -> Any:
        """At a step boundary: fork the parent into a Comparison (None if refused, and said why)."""
        from tui_mtl.engine import fork

        try:
            comparison = fork(parent, branches)
        except Exception as err:  # noqa: BLE001 — e.g. not enough device memory: said, not fatal
            self._post(ForkFailed(str(err) if isinstance(err, CommandError) else f"{type(err).__name__}: {err}"))
            return None
        if self.run_dir is not None:
            for name, branch in comparison.branches.items():
                self._open_recorder(Path(self.run_dir) / "branches" / folder_name(name), branch)
            self._fork_report = ForkReport(Path(self.run_dir), self.preset, branches)
        comparison.subscribe(self._on_report)
        comparison.extend(self.preset.training.steps)  # the branches train at once
        with self._lock:
            self._trainer = comparison
            if self._quit.is_set():
                comparison.close()
        self._post(ForkReady(comparison))
        return comparison

    def _open_recorder(self, run_dir: Path | None, session: Any) -> None:
        if run_dir is None or self._recorder_factory is None:
            return
        try:
            self._recorders.append(self._recorder_factory(Path(run_dir), session))
        except Exception as err:  # noqa: BLE001 — training goes on without a run folder
            self._post(Note(f"run folder not written: {type(err).__name__}: {err}", error=True))

    def _on_report(self, report: Any) -> None:
        """Every report (a Report, or {branch: Report} from a comparison), in the training thread."""
        self._freeze_after_tracing()
        if self._device_dynamic and time.monotonic() - self._last_probe > DEVICE_REFRESH_SECONDS:
            self._last_probe = time.monotonic()
            try:
                self._post(DeviceChanged(self._device_probe(self._trainer_session())[0]))
            except Exception:  # noqa: BLE001 — best effort
                self._device_dynamic = False
        self.reports.push(report)
        if isinstance(report, dict) and self._fork_report is not None and self._fork_report.due(report):
            self._write_fork_report(final=False)

    def _write_fork_report(self, final: bool) -> None:
        """The comparison's report.html, said on the changes line when the branches finish."""
        trainer = self._trainer
        if self._fork_report is None or not hasattr(trainer, "branches"):
            return
        try:
            page = self._fork_report.write(trainer)
        except Exception as err:  # noqa: BLE001 — said; training and the quit go on
            self._post(Note(f"comparison report not written: {type(err).__name__}: {err}", error=True))
            return
        if page is not None and not final:  # the path in full in a toast: the changes line may cut it
            self._post(Note(f"comparison report: {page}"))
            self._post(Toast(str(page), title="Comparison report written"))

    def _trainer_session(self) -> Any:
        trainer = self._trainer
        branches = getattr(trainer, "branches", None)
        return next(iter(branches.values())) if branches else trainer

    def _freeze_after_tracing(self) -> None:
        """After TensorFlow traced something new (or branches came or went): collect, then freeze.

        TensorFlow, Keras and every traced step leave a million long-lived Python objects, and each
        full garbage collection walked them all: a 200-250 ms pause of both threads every ~25 s, the
        worst frame of a long run. Frozen objects are skipped by later collections; unfreezing and
        collecting first means no garbage stays frozen (a dropped branch is reclaimed).

        The collection (a few hundred ms, holding the GIL) waits one report: the first values after a
        trace (the first trained step, at start-up) reach the screen before it."""
        trainer = self._trainer
        sessions = list(trainer.branches.values()) if hasattr(trainer, "branches") else [trainer]
        traced = (sum(sum(s.trace_counts.values()) for s in sessions), len(sessions))
        if traced == self._frozen_at:
            return
        if traced != self._reported_at:
            self._reported_at = traced  # this report goes out first
            return
        gc.unfreeze()
        gc.collect()
        gc.freeze()
        self._frozen_at = traced
