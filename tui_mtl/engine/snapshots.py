"""Rewind: a small ring of in-memory snapshots (weights, every optimizer's and weighting's state, the
settings in force), taken every N steps and just before every change a user makes.

When a change wrecks training (a rate of 1e9: finite but huge steps, then a non-finite one), the
snapshot taken before it is the last good state; rewinding there undoes the change in seconds.
The ring is bounded in bytes as well as in entries, so a large model keeps fewer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

from tui_mtl.engine.settings import Settings
from tui_mtl.engine.stepper import StepperState

DEFAULT_BUDGET = 256 * 2**20
DEFAULT_ENTRIES = 8


@dataclass(frozen=True)
class Snapshot:
    step: int
    reason: str  # "every N steps" or "before x lr=1e+09"
    state: StepperState
    settings: Settings  # as they were when the snapshot was taken
    before_change: bool = False
    events: int = 0  # how many events the session had noted: later ones (same step, after it) are undone
    train_loss: Mapping[str, float] | None = None  # the last reported train loss, shown again after a rewind


class SnapshotRing:
    def __init__(self, budget_bytes: int = DEFAULT_BUDGET, max_entries: int = DEFAULT_ENTRIES):
        self.budget_bytes = budget_bytes
        self.max_entries = max_entries
        self._entries: list[Snapshot] = []  # oldest first

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def entries(self) -> tuple[Snapshot, ...]:
        return tuple(self._entries)

    def has_step(self, step: int) -> bool:
        return any(s.step == step for s in self._entries)

    def capacity(self, nbytes: int) -> int:
        return max(1, min(self.max_entries, self.budget_bytes // max(nbytes, 1)))

    def add(self, snapshot: Snapshot) -> None:
        """Keep `snapshot`; a snapshot of the same step already held wins (it was taken before the
        first change at that step), except that it learns it came before a change."""
        for i, held in enumerate(self._entries):
            if held.step == snapshot.step:
                if snapshot.before_change and not held.before_change:
                    self._entries[i] = Snapshot(held.step, snapshot.reason, held.state, held.settings, True,
                                                held.events, held.train_loss)
                return
        self._entries.append(snapshot)
        self._entries.sort(key=lambda s: s.step)
        limit = self.capacity(snapshot.state.nbytes)
        while len(self._entries) > limit:
            self._drop_one()

    def _drop_one(self) -> None:
        """Forget a periodic snapshot before a before-change one: those are what rewinds are for."""
        periodic = [i for i, s in enumerate(self._entries[:-1]) if not s.before_change]
        del self._entries[periodic[0] if periodic else 0]

    def newest(self, *, before: int, at_most: int | None = None) -> Snapshot | None:
        """The newest snapshot with step < `before` (and <= `at_most`, when given)."""
        for snapshot in reversed(self._entries):
            if snapshot.step < before and (at_most is None or snapshot.step <= at_most):
                return snapshot
        return None

    def drop_after(self, step: int) -> None:
        self._entries = [s for s in self._entries if s.step <= step]

    def clear(self) -> None:
        self._entries.clear()
