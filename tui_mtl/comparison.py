"""A fair comparison: branches forked from one session, trained in lockstep on the same batches.

Every branch starts from an exact copy of the parent's weights and optimizer states (for every
strategy the parent has used) and then sees the same batches in the same order: one batch is drawn
per step and fed to each branch in turn, so N branches cost N branch steps and nothing more.
Branches are independent Sessions: a rate changed in one changes nothing in another.
"""

from __future__ import annotations

import math
import queue
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

from tui_mtl.errors import CommandError
from tui_mtl.reports import ERROR, Report
from tui_mtl.training_loop import run_loop
from tui_mtl.strategies.registry import canonical_name


@dataclass(frozen=True)
class BranchSpec:
    strategy: str
    lr: dict = field(default_factory=dict)
    weight: dict = field(default_factory=dict)
    name: str | None = None

    @classmethod
    def parse(cls, spec) -> "BranchSpec":
        if isinstance(spec, BranchSpec):
            return spec
        if isinstance(spec, str):
            return cls(strategy=spec)
        unknown = set(spec) - {"strategy", "lr", "weight", "name"}
        if unknown:
            raise CommandError(f"branch {spec!r}: unknown key(s) {', '.join(sorted(unknown))}")
        return cls(strategy=spec["strategy"], lr=dict(spec.get("lr", {})), weight=dict(spec.get("weight", {})),
                   name=spec.get("name"))


def unique_names(specs: list[BranchSpec]) -> list[str]:
    names, used = [], set()
    for spec in specs:
        base = spec.name or spec.strategy
        name, n = base, 2
        while name in used:
            name, n = f"{base}-{n}", n + 1
        used.add(name)
        names.append(name)
    return names


def state_bytes(variables) -> int:
    import tensorflow as tf

    return sum(math.prod(v.shape) * tf.as_dtype(v.dtype).size for v in variables)


def free_device_memory() -> int | None:
    """Bytes free on the first GPU, or None where there is no GPU (the host's memory is not checked)."""
    import tensorflow as tf

    gpus = tf.config.list_logical_devices("GPU")
    if not gpus:
        return None
    try:
        from tui_mtl.devices import gpu_total_memory

        total = gpu_total_memory(0)
        used = tf.config.experimental.get_memory_info("GPU:0")["current"]
    except Exception:  # no way to tell: do not refuse
        return None
    return None if total is None else total - used


def estimate_branch_bytes(parent) -> int:
    """One branch: a copy of the parent's state plus, at worst, Adam slots for K optimizers over the model."""
    model = state_bytes(parent.model.weights)
    return state_bytes(parent.state_variables()) + 2 * len(parent.head_names) * model


class Comparison:
    def __init__(self, branches: dict, next_batch: Callable, fork_step: int, report_interval: float,
                 report_every: int | None):
        self.branches = branches  # name -> Session, in the order given
        self.fork_step = fork_step
        self._next_batch = next_batch
        self.report_interval = report_interval
        self.report_every = report_every
        self._subscribers: list[Callable[[dict], None]] = []
        self._commands: queue.Queue = queue.Queue()
        self._lock = threading.RLock()
        self._running = False
        self._paused = False
        self._stop = threading.Event()
        self._closed = False
        self._last_report_time = time.perf_counter()
        self._last_report_step = fork_step

    @classmethod
    def fork(cls, parent, specs, *, names=None, free_memory: int | None | str = "detect") -> "Comparison":
        from tui_mtl.engine import Session

        specs = [BranchSpec.parse(spec) for spec in specs]
        if not specs:
            raise CommandError("fork needs at least one branch")
        for spec in specs:
            try:
                canonical_name(spec.strategy)
            except ValueError as err:
                raise CommandError(str(err)) from None
            for head in (*spec.lr, *spec.weight):
                parent._check_head(head, allow_trunk=head in spec.lr)
        names = names or unique_names(specs)
        free = free_device_memory() if free_memory == "detect" else free_memory
        needed = estimate_branch_bytes(parent) * len(specs)
        if free is not None and needed > free:
            raise CommandError(f"fork needs about {needed / 2**20:.0f} MiB of device memory for {len(specs)} "
                               f"branch(es) but {free / 2**20:.0f} MiB are free; fork fewer branches "
                               f"or use a smaller batch")
        preset = parent.current_preset()
        branches = {}
        for name, spec in zip(names, specs):
            branch = Session(preset, data=parent.data, report_interval=parent.report_interval,
                             report_every=parent.report_every, distribution=parent._dist,
                             mixed_precision=parent.mixed_precision, loss_scaling=parent.loss_scaling)
            branch.copy_state_from(parent)
            branch.set_strategy(spec.strategy)
            for head, rate in spec.lr.items():
                branch.set_lr(head, rate)
            for head, weight in spec.weight.items():
                branch.set_weight(head, weight)
            branch._note("fork", f"forked as {name}")
            branches[name] = branch
        def next_batch():
            batch = parent.next_batch()
            for branch in branches.values():  # each branch knows where the shared stream is (checkpoints)
                branch.batches_drawn = parent.batches_drawn
            return batch

        return cls(branches, next_batch, parent.step_count, parent.report_interval, parent.report_every)

    # --- commands (any thread) -----------------------------------------------------------

    def branch(self, name: str):
        if name not in self.branches:
            raise CommandError(f"unknown branch {name!r}; branches are {', '.join(self.branches)}")
        return self.branches[name]

    def _submit(self, action: Callable[[], None]) -> None:
        with self._lock:
            if self._running:
                self._commands.put(action)
                return
            action()

    def drop(self, name: str) -> None:
        self.branch(name)
        if len(self.branches) == 1:
            raise CommandError("cannot drop the last branch")
        self._submit(lambda: self.branches.pop(name, None))

    def pause(self) -> None:
        self._paused = True

    def resume(self) -> None:
        self._paused = False

    @property
    def paused(self) -> bool:
        return self._paused

    def stop(self) -> None:
        self._stop.set()

    def close(self) -> None:
        """Stop for good: a running `run()` returns at the next step, any later `run()` at once."""
        self._closed = True
        self._stop.set()

    def subscribe(self, callback: Callable[[dict], None]) -> Callable[[], None]:
        """callback({branch name: Report}) whenever the branches report (they report together)."""
        self._subscribers.append(callback)
        return lambda: self._subscribers.remove(callback)

    @property
    def step_count(self) -> int:
        return next(iter(self.branches.values())).step_count

    # --- training ------------------------------------------------------------------------

    def _drain(self) -> None:
        while True:
            try:
                self._commands.get_nowait()()
            except queue.Empty:
                break
        for branch in self.branches.values():
            branch._drain()

    def _publish(self, state: str, message: str | None = None) -> dict:
        reports = {name: branch._publish(state, message) for name, branch in self.branches.items()}
        self._last_report_time = time.perf_counter()
        self._last_report_step = self.step_count
        for callback in list(self._subscribers):
            callback(reports)
        return reports

    def _report_due(self) -> bool:
        for branch in self.branches.values():
            if branch._pending_val is not None or branch._pending_diag is not None or branch._pending_events:
                return True
        if self.report_every is not None:
            return self.step_count - self._last_report_step >= self.report_every
        return time.perf_counter() - self._last_report_time >= self.report_interval

    def run(self, steps: int) -> dict[str, Report]:
        """Train every branch `steps` steps in lockstep on shared batches; return the last reports."""
        with self._lock:
            if self._running:
                raise RuntimeError("this Comparison is already running in another thread")
            self._running = True
        entered = []
        try:
            for branch in self.branches.values():
                branch._enter_run(steps)
                entered.append(branch)
        except Exception:
            for branch in entered:
                branch._exit_run()
            with self._lock:
                self._running = False
            raise
        if not self._closed:
            self._stop.clear()
        self._last_report_time = time.perf_counter()
        self._last_report_step = self.step_count
        try:
            state = run_loop(self, self.step_count + steps)
        except Exception as err:
            from tui_mtl.engine import DeviceMemoryError, out_of_memory_message, tf_errors

            if isinstance(err, tf_errors().ResourceExhaustedError):
                message = out_of_memory_message(err)
                self._publish(ERROR, message=message)
                raise DeviceMemoryError(message) from None
            self._publish(ERROR, message=f"{type(err).__name__}: {err}")
            raise
        finally:
            for branch in list(self.branches.values()):
                branch._exit_run()
            with self._lock:
                self._running = False
                self._drain()
        return self._publish(state)

    def _train_one(self) -> None:
        """One shared batch, one step of every branch; a branch that meets a non-finite value pauses all."""
        x, y = self._next_batch()
        for branch in self.branches.values():
            branch.train_on(x, y)
        if any(branch._paused for branch in self.branches.values()):
            for branch in self.branches.values():
                branch._paused = False
            self._paused = True

    def _wait_while_paused(self) -> None:
        paused_at = time.perf_counter()
        while self._paused and not self._stop.is_set():
            time.sleep(0.05)
            self._drain()
        self._last_report_time += time.perf_counter() - paused_at
