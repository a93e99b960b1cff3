"""A headless command (`tui-mtl compare --seeds`, `tui-mtl sweep`) run from the app in a child
process on the settings in force now, its output followed line by line on a daemon thread.

A child process, not the training thread: the live run stays as it is (the app pauses it: two
trainings would share the cores), the child's TensorFlow never shares a thread with the app's, and
quitting the app stops it (SIGTERM: it reports what it finished, in its own run folder)."""

from __future__ import annotations

import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any, Callable

from textual.message import Message


class JobProgress(Message):
    """A line for the changes line (a seed or a trial finished)."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text


class JobDone(Message):
    """The child exited: `report` is None when it failed (`error`: the last line of its stderr)."""

    def __init__(self, title: str, summary: str, lines: list[str], report: str | None, code: int,
                 error: str) -> None:
        super().__init__()
        self.title, self.summary, self.lines, self.report, self.code, self.error = (title, summary, lines, report,
                                                                                    code, error)


class ChildJob:
    """Subclasses say what to run (`arguments`) and turn its lines into messages (`line`, `finished`)."""

    def __init__(self, post: Callable[[Message], Any], preset: Any, runs_root: Path | None):
        self._post = post
        self._folder = tempfile.TemporaryDirectory(prefix="tui-mtl-job-")
        self.preset_file = Path(self._folder.name) / f"{preset.name}.toml"
        self.preset_file.write_text(preset.to_toml(), encoding="utf-8")
        self.runs_root = runs_root
        self._process: subprocess.Popen | None = None

    def arguments(self) -> list[str]:
        raise NotImplementedError

    def line(self, text: str) -> None:
        """One line of the child's standard output."""

    def finished(self, code: int, error: str) -> None:
        """The child exited; `error`: the last line of its stderr."""

    @property
    def command(self) -> list[str]:
        runs = ["--runs-dir", str(self.runs_root)] if self.runs_root is not None else []
        return [sys.executable, "-m", "tui_mtl", *self.arguments(), *runs]

    def start(self) -> None:
        # stderr to a file: TensorFlow's start-up lines could fill a pipe nobody reads while stdout is followed
        self._stderr = open(Path(self._folder.name) / "stderr.log", "w+", encoding="utf-8")  # noqa: SIM115
        self._process = subprocess.Popen(self.command, stdout=subprocess.PIPE, stderr=self._stderr, text=True,
                                         stdin=subprocess.DEVNULL)
        threading.Thread(target=self._follow, name=type(self).__name__, daemon=True).start()

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def stop(self) -> None:
        if self.running:
            assert self._process is not None
            self._process.terminate()

    def _follow(self) -> None:
        assert self._process is not None and self._process.stdout is not None
        for text in self._process.stdout:
            self.line(text.rstrip())
        code = self._process.wait()
        self._stderr.seek(0)
        error = self._stderr.read().strip()
        self._stderr.close()
        self._folder.cleanup()
        self.finished(code, error.splitlines()[-1] if error else "")
