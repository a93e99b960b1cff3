"""Messages the training worker posts to the UI (with `post_message`: thread-safe, non-blocking)."""

from __future__ import annotations

from typing import Any

from textual.message import Message


class SessionReady(Message):
    """The Session is built and served: training is about to start."""

    def __init__(self, session: Any, device: str) -> None:
        super().__init__()
        self.session = session
        self.device = device


class SessionFailed(Message):
    """Building the Session (importing TensorFlow, the data, the model) failed: nothing to train."""

    def __init__(self, message: str) -> None:
        super().__init__()
        self.message = message


class ReportsReady(Message):
    """New reports are buffered; the handler drains all of them (one message per batch)."""


class TrainingFailed(Message):
    """The run raised (the session published an "error" report first); it waits for a restart."""

    def __init__(self, message: str) -> None:
        super().__init__()
        self.message = message


class DeviceChanged(Message):
    def __init__(self, device: str) -> None:
        super().__init__()
        self.device = device


class Note(Message):
    """A one-line message for the changes line (a checkpoint saved, a run folder problem)."""

    def __init__(self, text: str, error: bool = False) -> None:
        super().__init__()
        self.text = text
        self.error = error


class Toast(Message):
    """A notification from a worker thread (post_message: never blocks the thread, even at exit)."""

    def __init__(self, text: str, title: str = "", severity: str = "information") -> None:
        super().__init__()
        self.text = text
        self.title = title
        self.severity = severity


class ForkReady(Message):
    """The worker forked the session: a Comparison now trains the branches in lockstep."""

    def __init__(self, comparison: Any) -> None:
        super().__init__()
        self.comparison = comparison


class ForkFailed(Message):
    def __init__(self, message: str) -> None:
        super().__init__()
        self.message = message
