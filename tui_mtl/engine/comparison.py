"""A fair comparison: branches forked from one session, trained in lockstep on the same batches.

Every branch starts from an exact copy of the parent's weights and optimizer states (for every
strategy the parent has used) and then sees the same batches in the same order: one batch is drawn
per step and fed to each branch in turn, so N branches cost N branch steps and nothing more.
Branches are independent Sessions (a rate changed in one changes nothing in another) driven by the
comparison's loop; their commands are applied by it at step boundaries.

A branch whose step cannot be applied (a non-finite loss) diverged: it stops training, its result
says so, and it is never the best. Served (the app), the comparison then pauses so the user sees it
and can rewind every branch, drop the branch or go on without it; run headless, the others go on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from tui_mtl.engine.commands import Command, DropBranch, Rewind
from tui_mtl.engine.controller import Controller
from tui_mtl.engine.reports import Fault, Report
from tui_mtl.engine.session import Session
from tui_mtl.engine.state import State
from tui_mtl.errors import CommandError


@dataclass(frozen=True)
class BranchSpec:
    strategy: str
    lr: dict = field(default_factory=dict)
    weight: dict = field(default_factory=dict)
    name: str | None = None

    @classmethod
    def parse(cls, spec: Any) -> "BranchSpec":
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


class Comparison(Controller):
    def __init__(self, branches: dict[str, Session], next_batch: Callable[[], Any], fork_step: int,
                 report_interval: float, report_every: int | None, snapshot_every: int):
        first = next(iter(branches.values()))
        super().__init__(report_interval, report_every, first.clock)
        self.branches = branches  # name -> Session, in the order given
        self.fork_step = fork_step
        self.diverged: dict[str, Fault] = {}  # branches that stopped: their fault
        self.snapshot_every = snapshot_every
        self._next_batch = next_batch
        self.step_count = fork_step
        self._subscribers: list[Callable[[dict], None]] = []
        self._fault: Fault | None = None
        for branch in branches.values():
            branch.hosted_by(self)
        self._last_report_step = fork_step

    def branch(self, name: str) -> Session:
        if name not in self.branches:
            raise CommandError(f"unknown branch {name!r}; branches are {', '.join(self.branches)}")
        return self.branches[name]

    def subscribe(self, callback: Callable[[dict], None]) -> Callable[[], None]:
        """callback({branch name: Report}) whenever the branches report (they report together)."""
        self._subscribers.append(callback)
        return lambda: self._subscribers.remove(callback)

    def drop(self, name: str) -> None:
        self.branch(name)
        if len(self.branches) == 1:
            raise CommandError("cannot drop the last branch")
        self.submit(DropBranch(name))

    def rewind(self) -> None:
        self.submit(Rewind())

    @property
    def fault(self) -> Fault | None:
        return self._fault

    # --- applying commands -----------------------------------------------------------------

    def _apply(self, command: Command) -> None:
        if isinstance(command, DropBranch):
            if command.name in self.branches and len(self.branches) > 1:
                self.branches.pop(command.name)
                self.diverged.pop(command.name, None)
                self._dirty = True
        elif isinstance(command, Rewind):
            self._rewind()
        elif not self._apply_control(command):
            raise CommandError(f"a comparison does not take {type(command).__name__}")

    def _on_paused(self, paused: bool) -> None:
        if not paused:
            self._fault = None

    def snapshot_all(self, reason: str) -> None:
        """A snapshot of every branch at this step (before a change to one of them, or every N steps)."""
        for branch in self.branches.values():
            branch.snapshot(reason, before_change=reason.startswith("before"))

    def _rewind(self) -> None:
        """Every branch back to its snapshot at the newest step they all hold, before the fault (or now)."""
        at_most = min((f.rewind_step for f in self.diverged.values() if f.rewind_step is not None), default=None)
        before = self.step_count + 1 if at_most is not None else self.step_count
        common = None
        for branch in self.branches.values():
            steps = {s.step for s in branch.snapshots.entries
                     if s.step < before and (at_most is None or s.step <= at_most)}
            common = steps if common is None else common & steps
        if not common:
            return
        step = max(common)
        for branch in self.branches.values():
            snapshot = next(s for s in branch.snapshots.entries if s.step == step)
            branch.restore_snapshot(snapshot, note=True)
        self.step_count = step
        self.diverged.clear()
        self._fault = None
        if self.state in (State.FAULTED, State.FINISHED):
            self.state = State.PAUSED
        self._dirty = True

    # --- training --------------------------------------------------------------------------

    def _live(self) -> list[Session]:
        return [b for name, b in self.branches.items() if name not in self.diverged]

    def _train_one(self) -> None:
        """One shared batch, one step of every live branch."""
        batch = self._next_batch()
        new = {}
        for name, branch in self.branches.items():
            if name in self.diverged:
                continue
            fault = branch.step_on(batch)
            if fault is not None:
                new[name] = fault
        self.step_count += 1
        if self.snapshot_every and self.step_count % self.snapshot_every == 0:
            self.snapshot_all(f"every {self.snapshot_every} steps")
        if not new:
            return
        for name, fault in new.items():  # the branch is named wherever its fault is shown
            self.diverged[name] = Fault(fault.kind, fault.step, f"branch {name}, {fault.summary}", fault.advice,
                                        fault.heads, fault.blamed, fault.rewind_step)
        self._dirty = True
        self._fault = self.diverged[next(iter(new))]
        if self._serving or not self._live():
            self.state = State.FAULTED

    def has_pending_report(self) -> bool:
        return self._dirty or any(b.has_pending_report() for b in self.branches.values())

    def _publish(self, state: State) -> dict[str, Report]:
        reports = {}
        for name, branch in self.branches.items():
            fault = self.diverged.get(name)
            report = branch.make_report(State.FAULTED if fault else state, fault=fault or self._fault_for(state))
            reports[name] = branch.send(report)  # the branch's own subscribers: its run folder
        self._mark_reported()
        for callback in list(self._subscribers):
            callback(reports)
        return reports

    def _fault_for(self, state: State) -> Fault | None:
        return self._fault if state is State.FAULTED else None

    def run(self, steps: int) -> dict[str, Report]:
        """Train every branch `steps` steps in lockstep on shared batches; return the last reports."""
        for branch in self.branches.values():
            branch.target = self.step_count + int(steps)
        return super().run(steps)

    def _apply_control(self, command: Command) -> bool:
        handled = super()._apply_control(command)
        for branch in self.branches.values():  # branch reports show the comparison's target
            branch.target = self.target
        return handled

    def close(self) -> None:
        super().close()
        for branch in self.branches.values():
            branch.close()


def fork(parent: Session, specs: list, *, names: list[str] | None = None,
         free_memory: int | None | str = "detect", devices: list[str] | None = None) -> Comparison:
    """Branches that start from an exact copy of `parent` (public API only) and train on its batches.

    `specs`: strategy names, or dicts {"strategy": ..., "lr": {head: rate}, "weight": {head: w}, "name": ...}.
    `devices`: TensorFlow device names; branch i lives and trains on devices[i % len(devices)] (the
    same weights as on one device); None: where the parent is.
    """
    parsed = [BranchSpec.parse(spec) for spec in specs]
    if not parsed:
        raise CommandError("fork needs at least one branch")
    for spec in parsed:
        try:
            parent.preset.strategy.check(spec.strategy)
        except ValueError as err:
            raise CommandError(str(err)) from None
        for head in (*spec.lr, *spec.weight):
            parent.check_head(head, allow_trunk=head in spec.lr)
    names = names or unique_names(parsed)
    placed: list[str | None] = [devices[i % len(devices)] if devices else None for i in range(len(parsed))]
    _check_memory(parent, placed, free_memory)
    preset = parent.current_preset()
    branches: dict[str, Session] = {}
    for name, spec, device in zip(names, parsed, placed):
        branch = Session(preset, stepper=parent.stepper.spawn(device), report_interval=parent.report_interval,
                         report_every=parent.report_every, snapshot_every=parent.snapshot_every, clock=parent.clock)
        branch.adopt(parent)
        branch.set_strategy(spec.strategy)
        for head, rate in spec.lr.items():
            branch.set_lr(head, rate)
        for head, weight in spec.weight.items():
            branch.set_weight(head, weight)
        branch.begin_branch(name)
        branches[name] = branch

    def next_batch() -> Any:
        batch = parent.next_batch()
        for branch in branches.values():  # each branch knows where the shared stream is (checkpoints)
            branch.stepper.skip_to_batch(parent.stepper.batches_drawn)
        return batch

    comparison = Comparison(branches, next_batch, parent.step_count, parent.report_interval, parent.report_every,
                            parent.snapshot_every)
    comparison.snapshot_all("at the fork")
    return comparison


def _check_memory(parent: Session, placed: list[str | None], free_memory: int | None | str) -> None:
    """Refuse, with the amount needed, a fork whose branches do not fit on a device they are put on."""
    from tui_mtl.devices import short_name

    fork_bytes = getattr(parent.stepper, "fork_bytes", None)
    if fork_bytes is None:
        return
    for device in dict.fromkeys(placed):
        count = placed.count(device)
        free = _free_device_memory(parent, device) if free_memory == "detect" else free_memory
        needed = fork_bytes() * count
        if isinstance(free, int) and needed > free:
            where = "device memory" if device is None else f"memory on {short_name(device)}"
            raise CommandError(f"fork needs about {needed / 2**20:.0f} MiB of {where} for {count} branch(es) but "
                               f"{free / 2**20:.0f} MiB are free; fork fewer branches or use a smaller batch")


def _free_device_memory(parent: Session, device: str | None) -> int | None:
    if parent.model is None:  # a stepper without TensorFlow (tests)
        return None
    from tui_mtl.engine.tf.memory import free_device_memory

    return free_device_memory(device)
