"""The Session: one model trained under switchable strategies. TF-free: the TensorFlow side is a
Stepper (`tui_mtl.engine.tf.stepper.TFStepper` unless one is given).

    >>> s = Session(load_preset("quickstart")); s.run(100); s.set_strategy("grouped"); s.run(100)

Commands (`set_strategy`, `set_lr`, `set_weight`, `set_loss_scale`, `pause`, `resume`, `reset`,
`rewind`, ...) may be called from any thread: each is validated at once and applied at the next step
boundary. Reports go to subscribers from the training thread.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any, Callable

from tui_mtl.engine.commands import (Command, Reset, Rewind, SaveCheckpoint, SetLearningRate, SetLossScale,
                                     SetStrategy, SetWeight)
from tui_mtl.engine.controller import Controller
from tui_mtl.engine.history import History
from tui_mtl.engine.faults import Change, blame, failed_fault, nonfinite_fault
from tui_mtl.engine.reports import Event, EventKind, Fault, Report, frozen
from tui_mtl.engine.settings import TRUNK, Settings, preset_with
from tui_mtl.engine.rewind import Rewinding
from tui_mtl.engine.stepping import Stepping
from tui_mtl.engine.snapshots import DEFAULT_BUDGET, SnapshotRing
from tui_mtl.engine.state import State
from tui_mtl.engine.stepper import Stepper, StepperState
from tui_mtl.errors import CommandError, PresetError, TuiMtlError
from tui_mtl.presets import Preset, check_fits
from tui_mtl.presets.numbers import parse_non_negative, parse_positive
from tui_mtl.strategies.catalog import canonical_name

DEFAULT_SNAPSHOT_EVERY = 250  # steps between periodic rewind snapshots (and one before every change)


def _fmt(value: float) -> str:
    return f"{value:.3g}"


class Session(Stepping, Rewinding, Controller):
    def __init__(self, preset: Preset, *, base_dir: Path | None = None, report_interval: float = 0.25,
                 report_every: int | None = None, seed: int | None = None, data: Any = None,
                 distribution: Any = None, mixed_precision: str = "off", loss_scaling: Any = None,
                 stepper: Stepper | None = None, snapshot_every: int = DEFAULT_SNAPSHOT_EVERY,
                 snapshot_budget: int = DEFAULT_BUDGET, clock: Callable[[], float] = time.perf_counter):
        """`distribution`: a tf.distribute strategy (e.g. from devices.make_distribution) or None;
        `mixed_precision`: "off", "bf16" or "fp16"; `loss_scaling`: a LossScaling (default: Keras'
        dynamic scaling under fp16); `stepper`: the TensorFlow side (default: a TFStepper)."""
        super().__init__(report_interval, report_every, clock)
        if stepper is None:
            try:
                check_fits(preset)
            except ValueError as err:
                raise PresetError(str(err)) from None
            from tui_mtl.engine.tf.stepper import TFStepper

            stepper = TFStepper(preset, base_dir=base_dir, seed=seed, data=data, distribution=distribution,
                                mixed_precision=mixed_precision, loss_scaling=loss_scaling)
        self.stepper: Stepper = stepper
        self.preset = preset
        self.head_names = list(preset.model.head_names)
        # one immutable value, replaced (never changed in place) by the training thread: any thread
        # may read it whole
        self._settings = Settings.of(preset)
        stepper.use_strategy(self.strategy)
        self.diagnostics_every = preset.training.diagnostics_every
        self.snapshot_every = snapshot_every
        self.snapshots = SnapshotRing(snapshot_budget)
        self.step_count = 0
        self.train_seconds = 0.0
        self.overflow_skips = 0  # steps skipped by dynamic loss scaling (float16 overflow)
        self.history = History()
        self.events: list[Event] = []
        self.last_report: Report | None = None
        self._subscribers: list[Callable[[Report], None]] = []
        self._pending_events: list[Event] = []
        self._pending_val: tuple | None = None
        self._pending_diag: Any = None
        self._fault: Fault | None = None
        self._failure: str | None = None
        self._last_change: Change | None = None  # the latest change (what rewind undoes without a fault)
        self._suspect: Change | None = None  # the latest change that was not a rate/weight/scale lowered: blamed
        self._carried_train: dict | None = None  # train losses to show after a rewind, until steps run
        self._tracing = False
        self._seconds_per_step: float | None = None  # measured on calls that did not compile

    @classmethod
    def from_model(cls, model: Any, heads: Any, data: Any, *, name: str | None = None, training: Any = None,
                   strategy: Any = "summed", data_options: Any = None, **options: Any) -> "Session":
        """A Session on your own functional keras.Model, whose outputs are named after `heads`
        ({name: {kind, units, loss, weight, learning_rate, ...}} or HeadSpecs). `data`: (x, {head: y})
        arrays, a tf.data.Dataset of that structure, or a DataSpec (or its dict); `data_options`:
        validation_split, seed, shuffle; `training`, `strategy`: as in a preset; `options`: as Session's.

            >>> s = Session.from_model(model, {"a": {"kind": "regression"}, "b": {"kind": "binary"}}, (x, ys))
        """
        from tui_mtl.engine.from_model import preset_for_model
        from tui_mtl.engine.tf.stepper import TFStepper

        preset, given = preset_for_model(model, heads, data, name=name, training=training, strategy=strategy,
                                         data_options=data_options)
        stepper_options = {key: options.pop(key) for key in ("distribution", "mixed_precision", "loss_scaling",
                                                             "seed", "base_dir") if key in options}
        return cls(preset, stepper=TFStepper(preset, model=model, given_data=given, **stepper_options), **options)

    # --- the settings in force (a copy: read from any thread) ------------------------------

    def settings(self) -> Settings:
        return self._settings

    @property
    def strategy(self) -> str:
        return self._settings.strategy

    @property
    def learning_rates(self) -> dict[str, float]:
        return dict(self._settings.learning_rates)

    @property
    def weights(self) -> dict[str, float]:
        return dict(self._settings.weights)

    @property
    def loss_scales(self) -> dict[str, float]:
        return dict(self._settings.loss_scales)

    def _set(self, **changes: Any) -> None:
        self._settings = dataclasses.replace(self._settings, **changes)

    # --- what the stepper holds ------------------------------------------------------------

    @property
    def model(self) -> Any:
        return getattr(self.stepper, "model", None)

    @property
    def mixed_precision(self) -> str:
        return self.stepper.mixed_precision

    @property
    def replicas(self) -> int:
        return self.stepper.replicas

    @property
    def trace_counts(self) -> dict:
        return dict(self.stepper.trace_counts)

    @property
    def fault(self) -> Fault | None:
        return self._fault

    # --- commands (any thread) ---------------------------------------------------------------

    def check_head(self, head: str, allow_trunk: bool = False) -> None:
        known = self.head_names + ([TRUNK] if allow_trunk else [])
        if head not in known:
            raise CommandError(f"unknown head {head!r}; heads are {', '.join(known)}")

    def set_strategy(self, name: str) -> None:
        try:
            self.submit(SetStrategy(self.preset.strategy.check(name)))
        except ValueError as err:
            raise CommandError(str(err)) from None

    def set_lr(self, head: str, rate: Any) -> None:
        """Set a head's learning rate (or the trunk's, with head='trunk')."""
        self.check_head(head, allow_trunk=True)
        self.submit(SetLearningRate(head, parse_positive(rate, f"learning rate of {head}")))

    def set_weight(self, head: str, weight: Any) -> None:
        self.check_head(head)
        self.submit(SetWeight(head, parse_non_negative(weight, f"weight of {head}")))

    def set_loss_scale(self, head: str, scale: Any) -> None:
        self.check_head(head)
        self.submit(SetLossScale(head, parse_positive(scale, f"loss scale of {head}")))

    def reset(self) -> None:
        """Fresh start: the initial weights, every strategy's state as new, the batch stream from its
        start, history cleared; rates, weights and strategy stay. Trains exactly like a new Session."""
        self.submit(Reset())

    def rewind(self) -> None:
        """Back to the newest snapshot before the change blamed for a fault (or before now)."""
        self.submit(Rewind())

    def save_checkpoint(self, path: str | Path, on_done: Callable | None = None) -> None:
        """Save everything needed to continue exactly, atomically, at the next step boundary.

        A failed write (disk full, read-only folder) does not stop training: it becomes a "checkpoint"
        event saying why, the previous file stays intact, and `on_done(path or None, error or None)`
        is told either way."""
        self.submit(SaveCheckpoint(Path(path), on_done))

    def subscribe(self, callback: Callable[[Report], None]) -> Callable[[], None]:
        self._subscribers.append(callback)
        return lambda: self._subscribers.remove(callback)

    # --- applying commands (the training thread) ---------------------------------------------

    def _note(self, kind: EventKind, text: str) -> None:
        event = Event(self.step_count, kind, text)
        self.events.append(event)
        self._pending_events.append(event)
        self._dirty = True

    def _changed(self, what: str, safer: bool = False) -> None:
        """Before a user change: snapshot (so it can be undone), remember it (so a fault can blame it).
        A `safer` change (a rate, weight or scale lowered: the usual fix after a fault) is never the
        suspect: an earlier change stays blamed, so a fault's rewind still goes to before it."""
        host: Any = self._host  # a Comparison: every branch is snapshot at this step
        if host is not None:
            host.snapshot_all(f"before {what}")
        else:
            self.snapshot(f"before {what}", before_change=True)
        self._last_change = Change(self.step_count, what)
        if not safer:
            self._suspect = self._last_change

    def _apply(self, command: Command) -> None:
        if isinstance(command, SetStrategy):
            if command.name != self.strategy:
                self._changed(f"strategy {command.name}")
                self.stepper.use_strategy(command.name)
                self.stepper.set_learning_rates(self.learning_rates)
                self._set(strategy=command.name)
                self._note(EventKind.STRATEGY, command.name)
        elif isinstance(command, SetLearningRate):
            self._changed(f"{command.head} lr={_fmt(command.rate)}",
                          safer=command.rate < self._settings.learning_rates[command.head])
            self._set(learning_rates={**self._settings.learning_rates, command.head: command.rate})
            self.stepper.set_learning_rates(self.learning_rates)
            self._note(EventKind.LR, f"{command.head} lr={_fmt(command.rate)}")
        elif isinstance(command, SetWeight):
            self._changed(f"{command.head} weight={_fmt(command.weight)}",
                          safer=command.weight < self._settings.weights[command.head])
            self._set(weights={**self._settings.weights, command.head: command.weight})
            self.stepper.set_weights(self.weights)
            self._note(EventKind.WEIGHT, f"{command.head} w={_fmt(command.weight)}")
        elif isinstance(command, SetLossScale):
            self._changed(f"{command.head} loss scale={_fmt(command.scale)}",
                          safer=command.scale < self._settings.loss_scales[command.head])
            self._set(loss_scales={**self._settings.loss_scales, command.head: command.scale})
            self.stepper.set_loss_scales(self.loss_scales)
            self._note(EventKind.SCALE, f"{command.head} scale={_fmt(command.scale)}")
        elif isinstance(command, Reset):
            self._reset()
        elif isinstance(command, Rewind):
            self._rewind()
        elif isinstance(command, SaveCheckpoint):
            self._save_checkpoint(command)
        elif not self._apply_control(command):
            raise CommandError(f"a session does not take {type(command).__name__}")

    def _on_paused(self, paused: bool) -> None:
        if not paused:
            self._fault = None
        self._note(EventKind.PAUSE if paused else EventKind.RESUME, "paused" if paused else "resumed")

    def _push_settings(self) -> None:
        self.stepper.set_learning_rates(self.learning_rates)
        self.stepper.set_weights(self.weights)
        self.stepper.set_loss_scales(self.loss_scales)

    def _reset(self) -> None:
        self.stepper.reset()
        self.stepper.use_strategy(self.strategy)
        self._push_settings()
        run_length = self.preset.training.steps if self._serving else max(self.target - self.step_count, 0)
        self.step_count = 0
        self.target = run_length
        self.train_seconds = 0.0
        self.last_report = None
        self.history = History(self.history.max_points)
        self.snapshots.clear()
        self._pending_val = self._pending_diag = None
        self._fault = None
        self._last_change = self._suspect = None
        if self.state is not State.PAUSED:
            self.state = State.RUNNING if self.target > 0 else State.FINISHED
        self._note(EventKind.RESET, "restarted from fresh weights")

    def _save_checkpoint(self, command: SaveCheckpoint) -> None:
        from tui_mtl.engine import checkpoint

        try:
            checkpoint.save(self, command.path)
        except OSError as err:
            self._note(EventKind.CHECKPOINT, f"not saved: {err.strerror or err} ({command.path})")
            if command.on_done:
                command.on_done(None, err)
            return
        self._note(EventKind.CHECKPOINT, f"saved {command.path.name}")
        if command.on_done:
            command.on_done(command.path, None)

    # --- training ------------------------------------------------------------------------------

    def _set_fault(self, fault: Fault) -> Fault:
        self._fault = fault
        where = f" in {'/'.join(fault.heads)}" if fault.heads else ""
        self._note(EventKind.NONFINITE, f"not applied: {fault.kind}{where}")
        return fault

    def _why(self) -> Any:
        newest = self.snapshots.newest(before=self.step_count)
        return blame(self.step_count, self._suspect, None if newest is None else newest.step)

    def _nonfinite_fault(self, losses: tuple, faulty: tuple = ()) -> Fault:
        return nonfinite_fault(self.step_count, self.head_names, losses, self._why(), faulty)

    def _failed_fault(self, error: str) -> Fault:
        return failed_fault(self.step_count, self.strategy, error, self._why())

    # --- loops ---------------------------------------------------------------------------------

    def run(self, steps: int | None = None) -> Report:
        """Train `steps` steps (default: the preset's) in this thread; return the last report."""
        return super().run(self.preset.training.steps if steps is None else steps)

    def run_to(self, target: int) -> Report:
        """Train until step `target` (e.g. a resumed run's own target)."""
        return super().run(max(int(target) - self.step_count, 0))

    def _run_loop(self, serve: bool) -> Any:
        try:
            return super()._run_loop(serve)
        except Exception as err:  # reported, then re-raised for the caller
            self._failure = str(err) if isinstance(err, TuiMtlError) else f"{type(err).__name__}: {err}"
            self._publish(State.FAILED)
            raise

    # --- reports -------------------------------------------------------------------------------

    def has_pending_report(self) -> bool:
        return self._dirty or self._pending_val is not None or self._pending_diag is not None

    def effective_weights(self) -> dict[str, float]:
        return self.stepper.effective_weights()

    def _publish(self, state: State) -> Report:
        return self.send(self.make_report(state))

    def send(self, report: Report) -> Report:
        """Give `report` to every subscriber (a comparison sends its branches' reports this way)."""
        for callback in list(self._subscribers):
            callback(report)
        return report

    def make_report(self, state: State, *, fault: Fault | None = None) -> Report:
        """The report for now, recorded in the history (a comparison sends its branches' together)."""
        now = self.clock()
        previous = self.last_report
        means = self.stepper.take_train_means()
        carried = self._carried_train if self._carried_train is not None else (
            dict(previous.train_loss) if previous else {})
        train_loss = means if means is not None else carried
        if means is not None:
            self._carried_train = None
        total = previous.total_loss if previous else None
        if means is not None:
            total = float(sum(self.weights[h] * self.loss_scales[h] * means[h] for h in self.head_names))
        dt = now - self._rate_mark[0]
        steps_done = self.step_count - self._rate_mark[1]
        rate = steps_done / dt if dt > 0 and steps_done > 0 else (previous.steps_per_sec if previous else 0.0)
        fault = fault or (self._fault if state is State.FAULTED else None)
        message = fault.message if fault is not None else (self._failure if state is State.FAILED else None)
        val_loss, val_metric = self._pending_val or (None, None)
        report = Report(
            step=self.step_count, target_step=self.target, state=state, strategy=self.strategy,
            train_loss=frozen(train_loss), total_loss=total, learning_rates=frozen(self.learning_rates),
            weights=frozen(self.weights), steps_per_sec=rate, elapsed=self.train_seconds,
            val_loss=frozen(val_loss), val_metric=frozen(val_metric), events=tuple(self._pending_events),
            message=message, effective_weights=frozen(self.effective_weights()), diagnostics=self._pending_diag,
            loss_scale=self.stepper.loss_scale(), loss_scales=frozen(self.loss_scales), fault=fault,
            tracing=self._tracing, commands_applied=self.applied,
        )
        self._pending_events.clear()
        self._pending_val = self._pending_diag = None
        self._mark_reported()
        self.last_report = report
        self.history.add(report)
        return report

    # --- validation, state, forks ---------------------------------------------------------------

    def validate(self) -> tuple[dict, dict]:
        """Mean per-head validation loss and metric over the held-out batches (not while training)."""
        return self.stepper.validate()

    def capture(self) -> StepperState:
        return self.stepper.capture()

    def adopt(self, other: "Session") -> None:
        """Become an exact copy of `other`'s training state: weights, every strategy's state, the
        step and the stream position (a fork's branch)."""
        self.stepper.restore(other.stepper.capture())
        self.stepper.use_strategy(self.strategy)
        self._push_settings()
        self.step_count = other.step_count

    def begin_branch(self, name: str) -> None:
        """After a fork set this branch up: its settings are its definition (not undoable edits), and
        its own history of changes starts here."""
        self.snapshots.clear()
        self._last_change = self._suspect = None
        self.events.clear()
        self._pending_events.clear()
        self._note(EventKind.FORK, f"forked as {name}")

    def restore_progress(self, *, step: int, strategy: str, learning_rates: dict, weights: dict,
                         loss_scales: dict, train_seconds: float, events: list[Event], history: History,
                         state: StepperState, target: int | None = None) -> None:
        """Load a checkpoint's contents (`tui_mtl.engine.checkpoint.load`)."""
        self.stepper.restore(state)
        self._settings = Settings(canonical_name(strategy), dict(learning_rates), dict(weights), dict(loss_scales))
        self.stepper.use_strategy(self.strategy)
        self._push_settings()
        self.step_count = step
        self.target = step if target is None else target
        self.train_seconds = train_seconds
        self.events = list(events)
        self.history = history
        self.snapshots.clear()

    def load_checkpoint(self, path: str | Path) -> None:
        from tui_mtl.engine import checkpoint

        checkpoint.load(self, path)

    def next_batch(self) -> Any:
        return self.stepper.next_batch()

    def fork(self, branches: list, *, names: list[str] | None = None) -> Any:
        """Branches that start from an exact copy of this session and train on the same batches.

        `branches`: strategy names, or dicts {"strategy": ..., "lr": {head: rate}, "weight": {head: w}}."""
        from tui_mtl.engine.comparison import fork

        return fork(self, branches, names=names)

    # --- the session as a preset -----------------------------------------------------------------

    def current_preset(self, name: str | None = None, description: str | None = None) -> Preset:
        """The preset that reproduces what is in force now: strategy (and its parameters), rates,
        weights, scales."""
        return preset_with(self.preset, self._settings, name, description)
