"""Training steps for a Session: one per call, or several fused into one TensorFlow call
(`training.steps_per_call`), each chunk ending where something is due — a diagnostic step (which runs
alone), a validation, a snapshot, the target — then the fault, diagnostics, validation and snapshot
of the step reached.

Mixed into Session (it uses the session's stepper, preset, clock, step count and reports).
"""

from __future__ import annotations

from typing import Any, Callable

from tui_mtl.engine.reports import Fault
from tui_mtl.engine.state import State
from tui_mtl.engine.stepper import StepFailure

CALL_SECONDS = 0.025  # "auto" steps per call: about this long per call (how long a command may wait)
MAX_STEPS_PER_CALL = 64


class Stepping:
    preset: Any
    stepper: Any
    state: State
    step_count: int
    target: int
    diagnostics_every: int
    snapshot_every: int
    train_seconds: float
    overflow_skips: int
    clock: Any
    _host: Any
    _serving: bool
    _tracing: bool
    _dirty: bool
    _rate_mark: tuple
    _last_report_time: float
    _last_report_step: int
    report_every: int | None
    _pending_val: Any
    _pending_diag: Any
    _seconds_per_step: float | None
    snapshot: Callable[..., None]  # Rewinding's

    def _publish(self, state: State) -> Any:
        raise NotImplementedError  # the Session's

    def _set_fault(self, fault: Fault) -> Fault:
        raise NotImplementedError  # the Session's

    def _nonfinite_fault(self, losses: tuple, faulty: tuple = ()) -> Fault:
        raise NotImplementedError  # the Session's

    def _failed_fault(self, error: str) -> Fault:
        raise NotImplementedError  # the Session's

    def _train_one(self) -> None:
        count = self._chunk()
        fault = self.step_on(None) if count is None else self._steps_on(count)
        if fault is not None:
            self.state = State.FAULTED

    def _chunk(self) -> int | None:
        """How many plain steps the next fused call runs — up to the next diagnostic step,
        validation, snapshot or the target, and (auto) about CALL_SECONDS of training, so a command
        waits no longer — or None: one step through the single-step function (a diagnostic step,
        a strategy that cannot fuse, steps_per_call = 1). A fusable strategy's plain steps always go
        through its fused function (one trace), one at a time until their time is measured."""
        setting = self.preset.training.steps_per_call
        every = self.diagnostics_every
        step = self.step_count
        if setting == 1 or not self.stepper.fusable() or (every and (step + 1) % every == 0):
            return None
        if setting == "auto":
            per_step = self._seconds_per_step
            count = 1 if per_step is None else int(min(MAX_STEPS_PER_CALL, max(1.0, CALL_SECONDS / per_step)))
        else:
            count = int(setting)
        if self._dirty:  # a change waits to be reported: after one step, as without fusing
            return 1
        count = min(count, self.target - step)
        if self.report_every:  # reports every N steps (headless `run --report-every`, tests)
            count = min(count, max(1, self._last_report_step + self.report_every - step))
        for period in (self.preset.training.validate_every, self.snapshot_every if self._host is None else 0):
            if period:
                count = min(count, period - step % period)
        if every:
            count = min(count, every - step % every - 1)  # the diagnostic step itself runs alone
        return max(1, count)

    def step_on(self, batch: Any) -> Fault | None:
        """One step on `batch` (a comparison's shared batch) or on the next batch of this session's
        stream, with validation and diagnostics when due; the Fault if the step was not applied."""
        every = self.diagnostics_every
        diagnose = bool(every) and (self.step_count + 1) % every == 0
        self._announce_trace(self.stepper.will_trace(diagnose))
        started = self.clock()
        try:
            outcome = self.stepper.step(batch, diagnose)
        except StepFailure as err:
            return self._after_failure(1, str(err))
        return self._after(1, outcome, started)

    def _steps_on(self, count: int) -> Fault | None:
        """`count` plain steps of the own stream in one call (the stepper stops at one not applied)."""
        self._announce_trace(self.stepper.will_trace_fused())
        started = self.clock()
        try:
            done, outcome = self.stepper.steps(count)
        except StepFailure as err:
            return self._after_failure(1, str(err))
        return self._after(done, outcome, started)

    def _announce_trace(self, will_trace: bool) -> None:
        if self._serving and will_trace and not self._tracing:
            self._tracing = True  # tell the app before the seconds of compiling
            self._publish(self.state)

    def _after_failure(self, done: int, error: str) -> Fault:
        self.step_count += done
        self._tracing = False
        return self._set_fault(self._failed_fault(error))

    def _after(self, done: int, outcome: Any, started: float) -> Fault | None:
        """Count `done` steps, then whatever is due at the step reached: the fault, diagnostics,
        validation, a snapshot."""
        self.step_count += done
        self._tracing = False
        if outcome.traced:  # compiling says nothing about speed: restart the rate's window and the timer
            self._rate_mark = (self.clock(), self.step_count)
            self._last_report_time = self._rate_mark[0]
            if self._serving and self.report_every is None:  # the app: show the first trained values at once
                self._dirty = True
        else:
            seconds = self.clock() - started
            self.train_seconds += seconds
            per_step = seconds / done
            self._seconds_per_step = per_step if self._seconds_per_step is None else \
                0.8 * self._seconds_per_step + 0.2 * per_step
        fault = None
        if not outcome.applied:
            if outcome.overflow:
                self.overflow_skips += 1
            else:
                fault = self._set_fault(self._nonfinite_fault(outcome.losses or (), outcome.faulty or ()))
        elif outcome.diagnostics is not None:
            self._pending_diag = outcome.diagnostics
            self._dirty = True
        if self.step_count % self.preset.training.validate_every == 0:
            self._pending_val = self.stepper.validate()
            self._dirty = True
        if fault is None and self._host is None and self.snapshot_every and self.step_count % self.snapshot_every == 0:
            self.snapshot(f"every {self.snapshot_every} steps")
        return fault

