"""Typed commands: what callers (any thread) ask of a session or a comparison.

A command is validated when it is made (the Session's methods check heads and numbers) and
applied by the training thread at the next step boundary, or at once when nothing is training.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable


@dataclass(frozen=True)
class SetStrategy:
    name: str  # canonical


@dataclass(frozen=True)
class SetLearningRate:
    head: str  # a head or "trunk"
    rate: float


@dataclass(frozen=True)
class SetWeight:
    head: str
    weight: float


@dataclass(frozen=True)
class SetLossScale:
    head: str
    scale: float


@dataclass(frozen=True)
class Pause:
    pass


@dataclass(frozen=True)
class Resume:
    """Go on with the current run (after a pause, or after a fault once something was changed)."""


@dataclass(frozen=True)
class Extend:
    """Train `steps` more steps from where the session is (after the end of a run)."""

    steps: int


@dataclass(frozen=True)
class Reset:
    """Fresh weights and fresh state for every strategy; rates, weights and strategy stay."""


@dataclass(frozen=True)
class Rewind:
    """Back to the newest in-memory snapshot before the blamed change (or before now)."""


@dataclass(frozen=True)
class SaveCheckpoint:
    path: Path
    # told (path, None) or (None, error) once written or refused; runs in the training thread
    on_done: Callable[[Path | None, Exception | None], None] | None = None


@dataclass(frozen=True)
class DropBranch:
    name: str


@dataclass(frozen=True)
class Barrier:
    """Set `done` once every command queued before it is applied (`flush`)."""

    done: threading.Event = field(default_factory=threading.Event)


Command = (SetStrategy | SetLearningRate | SetWeight | SetLossScale | Pause | Resume | Extend | Reset | Rewind
           | SaveCheckpoint | DropBranch | Barrier)
