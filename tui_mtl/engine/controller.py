"""The run-state plumbing a Session and a Comparison share: the command queue, the training loop,
pause / stop / close / flush, and time-batched reports. No TensorFlow here.

Threading: `run()` (train N steps, then return) and `serve()` (the app's worker: train, then wait for
commands until stopped) run in the calling thread. Commands may be submitted from any thread: while
a loop is active they are queued and applied at the next step boundary by that loop's thread (so
TensorFlow only ever runs there); otherwise they are applied at once in the caller's thread.
A run never waits on a pause nobody can lift: `run()` returns when the engine faults.
"""

from __future__ import annotations

import queue
import threading
import time
from typing import Any, Callable

from tui_mtl.engine.commands import Barrier, Command, Extend, Pause, Resume
from tui_mtl.engine.state import State
from tui_mtl.presets.numbers import parse_non_negative_int, parse_positive_int

IDLE_POLL = 0.1  # seconds a served loop waits for a command before looking at the stop flag again


class Controller:
    def __init__(self, report_interval: float = 0.25, report_every: int | None = None,
                 clock: Callable[[], float] = time.perf_counter):
        """`clock`: seconds, for report timing and steps/s (a test's stepper may keep virtual time)."""
        self.clock = clock
        self.report_interval = report_interval
        self.report_every = report_every
        self.state = State.FINISHED  # nothing to train until run() or Extend
        self.target = 0
        self._commands: queue.Queue = queue.Queue()
        self._lock = threading.RLock()
        self._active = False  # a thread is in run() or serve(): commands are queued for it
        self._serving = False
        self._stop = threading.Event()
        self._closed = False
        self._host: Controller | None = None  # a comparison that drives this session's steps
        # commands submitted to / applied by this controller, counted: a report carries `applied`, so
        # a view knows which of its changes the report already reflects (values alone can repeat)
        self.submitted = 0
        self.applied = 0
        self._dirty = False  # something changed that the next report must carry
        self._last_report_time = self.clock()
        self._last_report_step = 0
        self._rate_mark = (self._last_report_time, 0)  # where the steps/s of the next report count from

    # --- to implement ----------------------------------------------------------------------

    step_count: int  # steps trained so far (an attribute or a property of the subclass)

    def _train_one(self) -> None:
        """One step (of every branch); may set `self.state = State.FAULTED`."""
        raise NotImplementedError

    def _publish(self, state: State) -> Any:
        """Build, record and send the report(s) for `state`; returns them."""
        raise NotImplementedError

    def _apply(self, command: Command) -> None:
        """Apply one command (in the training thread, or the caller's when nothing trains)."""
        raise NotImplementedError

    def has_pending_report(self) -> bool:
        """A validation, diagnostics or events are waiting to be reported."""
        return self._dirty

    def hosted_by(self, host: "Controller | None") -> None:
        """Let `host` (a comparison) drive this controller's steps: commands go to its queue."""
        self._host = host

    # --- commands (any thread) ---------------------------------------------------------------

    def submit(self, command: Command) -> int:
        """Queue `command` (or apply it now when nothing trains); returns its number: a report with
        `commands_applied` >= that number shows the state after it."""
        host = self._host or self
        with host._lock:
            self.submitted += 1
            number = self.submitted
            if host._active:
                host._commands.put((self, command, number))
                return number
            self._apply(command)
            self.applied = number
            return number

    def _drain(self, block: bool) -> None:
        try:
            target, command, number = (self._commands.get(timeout=IDLE_POLL) if block
                                       else self._commands.get_nowait())
        except queue.Empty:
            return
        while True:
            target._apply(command)
            if number:
                target.applied = number
            try:
                target, command, number = self._commands.get_nowait()
            except queue.Empty:
                return

    def pause(self) -> None:
        self.submit(Pause())

    def resume(self) -> None:
        self.submit(Resume())

    def extend(self, steps: int) -> None:
        """Train `steps` more steps (a served session that finished its run starts again)."""
        self.submit(Extend(parse_positive_int(steps, "steps")))

    @property
    def paused(self) -> bool:
        return self.state is State.PAUSED

    def stop(self) -> None:
        """Ask a running `run()`/`serve()` to return at the next step boundary (any thread). After
        `run()` the state is STOPPED; after `serve()` it is kept, so serving again goes on."""
        self._stop.set()
        self._commands.put((self, Barrier(), 0))  # wakes a served loop waiting for commands (not counted)

    def close(self) -> None:
        """Stop for good: a running loop returns at the next step, any later `run()` at once (a stop
        that lands just before `run()` starts is not lost)."""
        self._closed = True
        self.stop()

    @property
    def closed(self) -> bool:
        return self._closed

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every command queued so far is applied; False if `timeout` passed first."""
        barrier = Barrier()
        self.submit(barrier)
        return barrier.done.wait(timeout)

    def _apply_control(self, command: Command) -> bool:
        """The commands every controller understands; False if `command` is not one of them."""
        if isinstance(command, Barrier):
            command.done.set()
        elif isinstance(command, Pause):
            if self.state is State.RUNNING:
                self.state = State.PAUSED
                self._on_paused(True)
        elif isinstance(command, Resume):
            if self.state in (State.PAUSED, State.FAULTED):
                self.state = State.RUNNING if self.step_count < self.target else State.FINISHED
                self._rate_mark = (self.clock(), self.step_count)  # steps/s after a pause leaves the pause out
                self._on_paused(False)
        elif isinstance(command, Extend):
            self.target = self.step_count + command.steps
            if self.state in (State.FINISHED, State.STOPPED, State.FAILED):
                self.state = State.RUNNING
        else:
            return False
        self._dirty = True
        return True

    def _on_paused(self, paused: bool) -> None:
        """A hook for events (the session notes pause/resume)."""

    # --- the loop ------------------------------------------------------------------------------

    def run(self, steps: int) -> Any:
        """Train `steps` steps in this thread; return the last report(s). Returns (state FAULTED) when a
        step cannot be applied, instead of waiting for a resume nobody can send."""
        self.target = self.step_count + parse_non_negative_int(steps, "steps")
        self.state = State.RUNNING
        return self._run_loop(serve=False)

    def serve(self) -> Any:
        """Train towards the target, then wait for commands (Extend, Resume, ...) until `stop()`."""
        if self.state is State.FINISHED and self.step_count < self.target:
            self.state = State.RUNNING
        return self._run_loop(serve=True)

    def _run_loop(self, serve: bool) -> Any:
        with self._lock:
            if self._active:
                raise RuntimeError(f"this {type(self).__name__} is already training in another thread")
            self._active = True
        self._serving = serve
        if not self._closed:
            self._stop.clear()
        self._last_report_time, self._last_report_step = self.clock(), self.step_count
        self._rate_mark = (self._last_report_time, self.step_count)
        try:
            final = self._loop(serve)
        except Exception:
            self.state = State.FAILED
            raise
        finally:
            with self._lock:
                self._active = False
                self._serving = False
                self._drain(block=False)
        return self._publish(final)

    def _loop(self, serve: bool) -> State:
        while True:
            idle = self.state.idle or self.state in (State.STOPPED, State.FAILED)
            self._drain(block=idle and (serve or self.state is State.PAUSED))
            if self._stop.is_set():
                if not serve:  # a served session keeps its state: served again, it goes on (a fork refused)
                    self.state = State.STOPPED
                return State.STOPPED
            if self.state is State.FAULTED and not serve:
                return State.FAULTED
            if self.state is State.RUNNING and self.step_count >= self.target:
                self.state = State.FINISHED
                if not serve:
                    return State.FINISHED
                self._publish(State.FINISHED)
                continue
            if self.state is not State.RUNNING:
                if self.has_pending_report():  # a change while idle: show it
                    self._publish(self.state)
                continue
            self._train_one()
            if self.state is not State.RUNNING or self._report_due():
                self._publish(self.state)

    def _report_due(self) -> bool:
        if self.has_pending_report():
            return True
        if self.report_every is not None:
            return self.step_count - self._last_report_step >= self.report_every
        return self.clock() - self._last_report_time >= self.report_interval

    def _mark_reported(self) -> None:
        self._dirty = False
        self._last_report_time, self._last_report_step = self.clock(), self.step_count
        self._rate_mark = (self._last_report_time, self.step_count)
