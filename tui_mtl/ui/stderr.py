"""Keep native libraries (TensorFlow's C++ logging) from painting over the screen.

While the UI is up, file descriptor 2 points at a log file; the terminal driver writes to a
duplicate of the original descriptor instead (Textual's Linux driver writes to fd 2 by default).
Until a run folder exists the log is a temporary file; `attach()` moves it into the run folder.
If no run folder was ever attached, whatever was captured is replayed to the terminal on exit.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path
from typing import TextIO


class StderrRedirect:
    def __init__(self) -> None:
        self.saved_fd: int | None = None
        self.terminal: TextIO | None = None
        self.log_path: Path | None = None
        self._temp = None

    def __enter__(self) -> "StderrRedirect":
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:
                pass
        self.saved_fd = os.dup(2)
        self.terminal = os.fdopen(os.dup(2), "w", encoding="utf-8", errors="replace")
        self._temp = tempfile.TemporaryFile()
        os.dup2(self._temp.fileno(), 2)
        return self

    def attach(self, log_path: Path) -> None:
        """Send fd 2 to `log_path` from now on, keeping what was captured so far."""
        log_path = Path(log_path)
        with open(log_path, "ab") as log:
            if self._temp is not None:
                self._temp.seek(0)
                log.write(self._temp.read())
            log.flush()
            os.dup2(log.fileno(), 2)
        if self._temp is not None:
            self._temp.close()
            self._temp = None
        self.log_path = log_path

    def write(self, text: str) -> None:
        """Write Python-level stderr text (captured prints, warnings) to the current log."""
        try:
            os.write(2, text.encode("utf-8", "replace"))
        except OSError:
            pass

    def __exit__(self, *exc) -> None:
        try:
            sys.stderr.flush()
        except Exception:
            pass
        if self.saved_fd is not None:
            os.dup2(self.saved_fd, 2)
            os.close(self.saved_fd)
            self.saved_fd = None
        if self.terminal is not None:
            try:
                self.terminal.close()
            except OSError:
                pass
            self.terminal = None
        if self._temp is not None:  # never attached: show what was captured
            self._temp.seek(0)
            captured = self._temp.read()
            self._temp.close()
            self._temp = None
            if captured:
                os.write(2, captured)
