"""The run state a session (or a comparison) is in; reports carry it, the UI shows it."""

from __future__ import annotations

from enum import Enum


class State(str, Enum):
    """str-valued, so a report's state still compares and serialises as the plain word."""

    RUNNING = "running"
    PAUSED = "paused"  # by the user: resume goes on
    FAULTED = "faulted"  # by the engine: a non-finite or failed step was not applied; rewind or resume
    FINISHED = "finished"  # reached the target step
    STOPPED = "stopped"  # asked to stop (quit, fork, signal)
    FAILED = "error"  # an exception ended the run

    @property
    def idle(self) -> bool:
        """Not training, and waiting for a command (in a served session)."""
        return self in (State.PAUSED, State.FAULTED, State.FINISHED)

    def __str__(self) -> str:
        return self.value
