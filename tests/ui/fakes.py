"""A Session stand-in without TensorFlow, for UI tests: same commands, reports and history.

Losses follow a smooth deterministic curve that reacts to the learning rate, the weight and the
strategy, so a change shows on the plots. Steps sleep instead of computing, so the process looks
idle to Pilot and a key press in a test costs milliseconds, not seconds.
"""

from __future__ import annotations

import math
import queue
from pathlib import Path
import threading
import time

from tui_mtl.errors import CommandError
from tui_mtl.history import History
from tui_mtl.reports import ERROR, FINISHED, PAUSED, RUNNING, STOPPED, Event, Report, frozen
from tui_mtl.strategies.registry import canonical_name

TRUNK = "trunk"


def _check(value, what: str, allow_zero: bool = False) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise CommandError(f"{what}: {value!r} is not a number") from None
    if not math.isfinite(number) or number < 0 or (number == 0 and not allow_zero):
        raise CommandError(f"{what}: must be a finite number {'>= 0' if allow_zero else '> 0'}, got {value!r}")
    return number


class FakeSession:
    def __init__(self, preset, *, prefill: int = 0, step_delay: float = 0.005, report_every: int = 20,
                 speed: float = 200.0, fail_at: int | None = None, nan_at: int | None = None,
                 events_at: dict | None = None, start_paused: bool = False, fault_at: int | None = None,
                 fork_pause_after: int | None = None):
        self.preset = preset
        self.head_names = preset.model.head_names
        self.learning_rates = {TRUNK: preset.training.trunk_learning_rate,
                               **{h.name: h.learning_rate for h in preset.model.heads}}
        self.weights = {h.name: h.weight for h in preset.model.heads}
        self.loss_scales = {h.name: h.loss_scale for h in preset.model.heads}
        self.strategy = canonical_name(preset.strategy.name)
        self.model = None
        self.mixed_precision = "off"
        self.replicas = 1
        self._rules: dict = {}  # what checkpoint.describe reads: no strategy state in a fake
        self._train_seconds = 0.0
        self.loss_scale_state = None  # no dynamic loss scaling (fp16 only)
        self.batches_drawn = 0
        self.events: list[Event] = []
        self._closed = False
        self.step_count = 0
        self.history = History()
        self.step_delay = step_delay
        self.report_every = report_every
        self.speed = speed
        self.fail_at = fail_at
        self.nan_at = nan_at
        self.fault_at = fault_at  # like the engine on a non-finite step: skip it, pause, say why
        self.fork_pause_after = fork_pause_after  # a comparison pauses itself this many steps after the fork
        self._fault = None
        self.runs = 0
        self.commands_applied: list[str] = []
        self._progress = {h: 0.0 for h in self.head_names}  # integrated "learning" per head
        self._paused = False
        self._stop = threading.Event()
        self._running = False
        self._lock = threading.RLock()
        self._commands: queue.Queue = queue.Queue()
        self._pending_events: list[Event] = []
        self._subscribers: list = []
        self._target = 0
        self._sum = {h: 0.0 for h in self.head_names}
        self._count = 0
        self._val = None
        self._diag = None
        self.diagnostics_every = preset.training.diagnostics_every
        self.last_report = None
        events_at = dict(events_at or {})
        for _ in range(prefill):  # deterministic history for snapshots
            if self.step_count in events_at:
                kind, text = events_at[self.step_count]
                self._note(kind, text)
            self._step()
            if self.step_count % self.report_every == 0:
                self._publish(RUNNING)
        self._target = self.step_count
        self._paused = start_paused  # a snapshot's steady state: run() publishes one PAUSED report and waits

    # --- the Session API --------------------------------------------------------------

    @property
    def paused(self) -> bool:
        return self._paused

    def subscribe(self, callback):
        self._subscribers.append(callback)
        return lambda: self._subscribers.remove(callback)

    def _submit(self, name: str, action) -> None:
        with self._lock:
            if self._running:
                self._commands.put((name, action))
                return
        self.commands_applied.append(name)
        action()

    def _note(self, kind: str, text: str) -> None:
        event = Event(self.step_count, kind, text)
        self.events.append(event)
        self._pending_events.append(event)

    def set_strategy(self, name: str) -> None:
        try:
            name = canonical_name(name)
        except ValueError as err:
            raise CommandError(str(err)) from None

        def apply():
            if name != self.strategy:
                self.strategy = name
                self._note("strategy", name)

        self._submit("set_strategy", apply)

    def _head(self, head: str, allow_trunk: bool = False) -> None:
        known = self.head_names + ([TRUNK] if allow_trunk else [])
        if head not in known:
            raise CommandError(f"unknown head {head!r}; heads are {', '.join(known)}")

    def set_lr(self, head: str, rate) -> None:
        self._head(head, allow_trunk=True)
        rate = _check(rate, f"learning rate of {head}")

        def apply():
            self.learning_rates[head] = rate
            self._note("lr", f"{head} lr={rate:.3g}")

        self._submit("set_lr", apply)

    def set_weight(self, head: str, weight) -> None:
        self._head(head)
        weight = _check(weight, f"weight of {head}", allow_zero=True)

        def apply():
            self.weights[head] = weight
            self._note("weight", f"{head} w={weight:.3g}")

        self._submit("set_weight", apply)

    def set_loss_scale(self, head: str, scale) -> None:
        self._head(head)
        scale = _check(scale, f"loss scale of {head}")

        def apply():
            self.loss_scales[head] = scale
            self._note("scale", f"{head} scale={scale:.3g}")

        self._submit("set_loss_scale", apply)

    def pause(self) -> None:
        self._submit("pause", lambda: self._set_paused(True))

    def resume(self) -> None:
        self._submit("resume", lambda: self._set_paused(False))

    def _set_paused(self, paused: bool) -> None:
        if paused != self._paused:
            self._paused = paused
            self._note("pause" if paused else "resume", "paused" if paused else "resumed")

    def stop(self) -> None:
        self._stop.set()

    def fork(self, branches, *, names=None):
        return FakeComparison(self, list(branches))

    def effective_weights(self) -> dict:
        """Fixed weightings: the weights; adaptive ones (name+weighting): K·softmax of the remaining loss."""
        if "+" not in self.strategy:
            return dict(self.weights)
        remaining = [-self._progress[h] for h in self.head_names]
        k = len(self.head_names)
        return {h: k * p for h, p in zip(self.head_names, _softmax(remaining))}

    def close(self) -> None:
        self._closed = True
        self._stop.set()

    def flush(self, timeout=None) -> bool:
        applied = threading.Event()
        self._submit("flush", applied.set)
        return applied.wait(timeout)

    # --- checkpoints: the real file format (tui_mtl.checkpoint), the fake's little state ---------

    def state_variables(self):
        import numpy as np

        return [np.array([self._progress[h] for h in self.head_names], dtype=np.float64)]

    def save_checkpoint(self, path) -> None:
        from tui_mtl import checkpoint

        self._submit("save_checkpoint",
                     lambda: (checkpoint.save(self, path), self._note("checkpoint", f"saved {Path(path).name}")))

    def load_checkpoint(self, path) -> None:
        import numpy as np

        from tui_mtl.checkpoint import read_meta

        meta = read_meta(path)
        with np.load(path) as archive:
            self._progress = dict(zip(self.head_names, archive["v00000"].tolist()))
        self.learning_rates = dict(meta["learning_rates"])
        self.weights = dict(meta["weights"])
        self.loss_scales = dict(meta["loss_scales"])
        self.strategy = meta["strategy"]
        self.step_count = int(meta["step"])
        self.events = [Event(int(s), k, t) for s, k, t in meta["events"]]
        self.history = History.from_dict(meta["history"])
        self.loaded_from = Path(path)

    def reset(self) -> None:
        def apply():
            self.step_count = 0
            self._progress = {h: 0.0 for h in self.head_names}
            self.last_report = None
            self.history = History(self.history.max_points)
            self._note("reset", "restarted from fresh weights")

        self._submit("reset", apply)

    def current_preset(self, name=None, description=None):
        heads = []
        for head in self.preset.model.model_dump(mode="json")["heads"]:
            head.update(learning_rate=self.learning_rates[head["name"]], weight=self.weights[head["name"]],
                        loss_scale=self.loss_scales[head["name"]])
            heads.append(head)
        changes = {"model": {"heads": heads}, "training": {"trunk_learning_rate": self.learning_rates[TRUNK]},
                   "strategy": {"name": self.strategy}}
        if name is not None:
            changes["name"] = name
        if description is not None:
            changes["description"] = description
        return self.preset.with_changes(**changes)

    # --- training -----------------------------------------------------------------------

    def _loss(self, head: str, index: int) -> float:
        base = 2.0 / (1 + index)
        wiggle = 0.03 * math.sin(self.step_count * 0.7 + index)
        return base * math.exp(-self._progress[head]) + 0.05 + wiggle * math.exp(-self._progress[head] / 2)

    def _step(self) -> None:
        bonus = 1.3 if self.strategy == "grouped" else 1.0
        for i, head in enumerate(self.head_names):
            rate = self.learning_rates[head] / 1e-3
            self._progress[head] += 0.0015 * rate * bonus * (0.5 + self.weights[head])
            value = self._loss(head, i)
            if self.nan_at is not None and self.step_count + 1 >= self.nan_at:
                value = float("nan")
            self._sum[head] += value
        self._count += 1
        self.step_count += 1
        if self.diagnostics_every and self.step_count % self.diagnostics_every == 0:
            heads = self.head_names
            norms = {h: math.exp(-self._progress[h]) * (1 + i) for i, h in enumerate(heads)}
            total = sum(norms.values())
            self._diag = {"grad_norm": norms, "update_share": {h: v / total for h, v in norms.items()},
                          "cosine": {f"{a}~{b}": math.cos(self.step_count * 0.01 + i + j)
                                     for i, a in enumerate(heads) for j, b in enumerate(heads) if i < j}}
            self._diag["conflict_share"] = sum(v < 0 for v in self._diag["cosine"].values()) / max(
                len(self._diag["cosine"]), 1)
        if self.step_count % self.preset.training.validate_every == 0:
            self._val = ({h: self._loss(h, i) * 1.1 for i, h in enumerate(self.head_names)},
                         {h: min(1.0, 0.3 + self._progress[h] / 4) for h in self.head_names})

    def _drain(self) -> None:
        while True:
            try:
                name, action = self._commands.get_nowait()
            except queue.Empty:
                return
            self.commands_applied.append(name)
            action()

    def run(self, steps=None):
        steps = self.preset.training.steps if steps is None else steps
        with self._lock:
            if self._running:
                raise RuntimeError("already running")
            self._running = True
        self.runs += 1
        if not self._closed:
            self._stop.clear()
        self._target = self.step_count + steps
        state = FINISHED
        try:
            while True:
                self._drain()
                if self._stop.is_set():
                    state = STOPPED
                    break
                if self._paused:
                    self._publish(PAUSED)
                    while self._paused and not self._stop.is_set():
                        try:
                            name, action = self._commands.get(timeout=0.01)
                        except queue.Empty:
                            continue
                        self.commands_applied.append(name)
                        action()
                        if self._pending_events:
                            self._publish(PAUSED)
                    continue
                if self.step_count >= self._target:
                    break
                if self.step_delay:
                    time.sleep(self.step_delay)
                self._step()
                if self.fail_at is not None and self.step_count >= self.fail_at:
                    raise RuntimeError(f"boom at step {self.step_count}")
                if self.fault_at is not None and self.step_count == self.fault_at:
                    self._fault = (f"non-finite value in head 'shape' (loss nan) at step {self.step_count}: "
                                   "the step was not applied and training is paused")
                    self._paused = True
                    self._note("nonfinite", f"step {self.step_count} skipped: non-finite shape")
                if (self._val is not None or self._diag is not None or self._pending_events
                        or self.step_count % self.report_every == 0):
                    self._publish(RUNNING)
        except Exception as err:
            self._publish(ERROR, message=f"{type(err).__name__}: {err}")
            raise
        finally:
            with self._lock:
                self._running = False
                self._drain()
        return self._publish(state)

    def _publish(self, state: str, message: str | None = None) -> Report:
        message, self._fault = message or self._fault, None
        previous = self.last_report
        train = dict(previous.train_loss) if previous else {}
        total = previous.total_loss if previous else None
        if self._count:
            train = {h: self._sum[h] / self._count for h in self.head_names}
            total = sum(self.weights[h] * self.loss_scales[h] * train[h] for h in self.head_names)
            self._sum = {h: 0.0 for h in self.head_names}
            self._count = 0
        val_loss, val_metric = self._val or (None, None)
        report = Report(step=self.step_count, target_step=self._target, state=state, strategy=self.strategy,
                        train_loss=frozen(train), total_loss=total, learning_rates=frozen(self.learning_rates),
                        weights=frozen(self.weights), steps_per_sec=self.speed,
                        elapsed=self.step_count / self.speed, val_loss=frozen(val_loss),
                        val_metric=frozen(val_metric), events=tuple(self._pending_events), message=message,
                        effective_weights=frozen(self.effective_weights()), diagnostics=self._diag)
        self._pending_events.clear()
        self._val = None
        self._diag = None
        self.last_report = report
        self.history.add(report)
        for callback in list(self._subscribers):
            callback(report)
        return report


def _softmax(values: list[float]) -> list[float]:
    top = max(values)
    exps = [math.exp(v - top) for v in values]
    return [e / sum(exps) for e in exps]


def fake_device(_session) -> tuple[str, bool]:
    return "CPU (fake session) · no TensorFlow", False


class FakeComparison:
    """Session.fork's Comparison without TensorFlow: branches are FakeSessions copied from the parent,
    stepped in lockstep, reporting together as {branch name: Report}."""

    def __init__(self, parent: FakeSession, specs: list):
        from tui_mtl.comparison import BranchSpec, unique_names

        specs = [BranchSpec.parse(spec) for spec in specs]
        if not specs:
            raise CommandError("fork needs at least one branch")
        names = unique_names(specs)
        self.fork_step = parent.step_count
        self.branches: dict[str, FakeSession] = {}
        for name, spec in zip(names, specs):
            branch = FakeSession(parent.preset, step_delay=0, report_every=parent.report_every, speed=parent.speed)
            branch.step_count = parent.step_count
            branch._progress = dict(parent._progress)
            branch.learning_rates = dict(parent.learning_rates)
            branch.weights = dict(parent.weights)
            branch.loss_scales = dict(parent.loss_scales)
            branch.strategy = parent.strategy
            branch.set_strategy(spec.strategy)
            for head, rate in spec.lr.items():
                branch.set_lr(head, rate)
            for head, weight in spec.weight.items():
                branch.set_weight(head, weight)
            branch._note("fork", f"forked as {name}")
            self.branches[name] = branch
        self.step_delay = parent.step_delay
        self.report_every = parent.report_every
        self.pause_at = None if parent.fork_pause_after is None else self.fork_step + parent.fork_pause_after
        self._subscribers: list = []
        self._commands: queue.Queue = queue.Queue()
        self._lock = threading.RLock()
        self._running = False
        self._paused = False
        self._stop = threading.Event()
        self.runs = 0

    def branch(self, name: str) -> FakeSession:
        if name not in self.branches:
            raise CommandError(f"unknown branch {name!r}")
        return self.branches[name]

    def drop(self, name: str) -> None:
        self.branch(name)
        if len(self.branches) == 1:
            raise CommandError("cannot drop the last branch")
        with self._lock:
            if self._running:
                self._commands.put(lambda: self.branches.pop(name, None))
                return
        self.branches.pop(name, None)

    def pause(self) -> None:
        self._paused = True

    def resume(self) -> None:
        self._paused = False

    @property
    def paused(self) -> bool:
        return self._paused

    def stop(self) -> None:
        self._stop.set()

    def subscribe(self, callback):
        self._subscribers.append(callback)
        return lambda: self._subscribers.remove(callback)

    @property
    def step_count(self) -> int:
        return next(iter(self.branches.values())).step_count

    def _drain(self) -> None:
        while True:
            try:
                self._commands.get_nowait()()
            except queue.Empty:
                break
        for branch in self.branches.values():
            branch._drain()

    def _publish(self, state: str) -> dict:
        reports = {name: branch._publish(state) for name, branch in self.branches.items()}
        for callback in list(self._subscribers):
            callback(reports)
        return reports

    def run(self, steps: int) -> dict:
        with self._lock:
            self._running = True
        self.runs += 1
        self._stop.clear()
        for branch in self.branches.values():
            branch._running = True
            branch._target = branch.step_count + steps
        target = self.step_count + steps
        state = FINISHED
        try:
            while True:
                self._drain()
                if self._stop.is_set():
                    state = STOPPED
                    break
                if self._paused:
                    self._publish(PAUSED)
                    while self._paused and not self._stop.is_set():
                        time.sleep(0.01)
                        self._drain()
                    continue
                if self.step_count >= target:
                    break
                if self.step_delay:
                    time.sleep(self.step_delay)
                for branch in self.branches.values():
                    branch._step()
                if self.pause_at is not None and self.step_count == self.pause_at:
                    self._paused = True  # a snapshot's steady state
                due = any(b._val is not None or b._diag is not None or b._pending_events
                          for b in self.branches.values())
                if due or self.step_count % self.report_every == 0:
                    self._publish(RUNNING)
        finally:
            for branch in self.branches.values():
                branch._running = False
            with self._lock:
                self._running = False
                self._drain()
        return self._publish(state)
