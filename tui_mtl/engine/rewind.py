"""Rewind for a Session: snapshots taken every N steps and before each change, and going back to one.

Mixed into Session (it uses the session's stepper, settings, step, events, history and snapshots).
"""

from __future__ import annotations

from tui_mtl.engine.reports import EventKind
from typing import Any

from tui_mtl.engine.snapshots import Snapshot, SnapshotRing
from tui_mtl.engine.state import State


class Rewinding:
    step_count: int
    snapshots: SnapshotRing
    stepper: Any
    state: State
    events: list
    history: Any
    last_report: Any
    _settings: Any
    _fault: Any
    _last_change: Any
    _suspect: Any
    _pending_val: Any
    _pending_diag: Any
    _carried_train: Any

    def _note(self, kind: EventKind, text: str) -> None:
        raise NotImplementedError  # the Session's

    def _push_settings(self) -> None:
        raise NotImplementedError  # the Session's

    def snapshot(self, reason: str, before_change: bool = False) -> None:
        """Keep the state now in the rewind ring (in the training thread, at a step boundary). A
        snapshot of this step already held is kept (the ring notes it came before a change)."""
        held = next((s for s in self.snapshots.entries if s.step == self.step_count), None)
        if held is not None and not before_change:
            return
        state = held.state if held is not None else self.stepper.capture()
        train_loss = dict(self.last_report.train_loss) if self.last_report is not None else None
        self.snapshots.add(Snapshot(self.step_count, reason, state, self._settings, before_change,
                                    len(self.events), train_loss))

    def rewind_target(self) -> Snapshot | None:
        """Where `rewind` goes: before the change a fault blames (or the latest change), else the
        newest snapshot before now; pressed again, further back."""
        at_most = None
        if self._fault is not None and self._fault.rewind_step is not None:
            at_most = self._fault.rewind_step
        elif self._last_change is not None:
            at_most = self._last_change.step
        if at_most is not None:
            return self.snapshots.newest(before=self.step_count + 1, at_most=at_most)
        return self.snapshots.newest(before=self.step_count)

    def _rewind(self) -> None:
        snapshot = self.rewind_target()
        if snapshot is None:
            self._note(EventKind.REWIND, "nothing to rewind to")
            return
        self.restore_snapshot(snapshot, note=True)
        if self.state in (State.FAULTED, State.FINISHED):
            self.state = State.PAUSED  # look, then resume

    def restore_snapshot(self, snapshot: Snapshot, *, note: bool = False) -> None:
        """Back to `snapshot`: its state and settings; the history and later snapshots are cut there.
        The batch stream goes on (new batches), so nothing is replayed."""
        self.stepper.restore(snapshot.state, stream=False)
        self._settings = snapshot.settings
        self.stepper.use_strategy(self._settings.strategy)
        self._push_settings()
        self.step_count = snapshot.step
        undone = self.events[snapshot.events:]  # what happened since, at this step or later
        self.events = self.events[:snapshot.events]
        self.history.truncate_after(snapshot.step, undone=undone)
        self.snapshots.drop_after(snapshot.step)
        self.stepper.take_train_means()  # losses of the abandoned steps are not reported
        self._carried_train = dict(snapshot.train_loss) if snapshot.train_loss else None
        self._pending_val = self._pending_diag = None
        self._fault = None
        self._last_change = self._suspect = None
        if note:
            self._note(EventKind.REWIND, f"rewound to step {snapshot.step:,} ({snapshot.reason})")

