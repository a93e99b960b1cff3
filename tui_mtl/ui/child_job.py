"""A headless command (`tui-mtl compare --seeds`, `tui-mtl sweep`) run from the app in a child
process on the settings in force now, its output followed line by line on a daemon thread.

A child process, not the training thread: the live run stays as it is (the app pauses it: two
trainings would share the cores), and the child's TensorFlow never shares a thread with the app's.
Its output goes to files in the job's folder (under the app's run folder: `jobs/NAME-N/`), not to
pipes, so the child never depends on the app: quitting the app sends it SIGTERM, and it finishes the
step, leaves out what it had not finished and writes its report in its own run folder, with nobody
left to read what it prints."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Callable

from textual.message import Message

OUTPUT, ERRORS = "output.log", "stderr.log"
POLL_SECONDS = 0.1


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


def job_folder(run_dir: Path | None, kind: str) -> tuple[Path, bool]:
    """`RUN/jobs/KIND-N` (kept: what the child was given and printed), or a temporary folder when the
    app records nothing (removed when the child exits). Returns (folder, temporary)."""
    if run_dir is None:
        return Path(tempfile.mkdtemp(prefix=f"tui-mtl-{kind}-")), True
    jobs = Path(run_dir) / "jobs"
    jobs.mkdir(parents=True, exist_ok=True)
    number = 1 + sum(1 for p in jobs.iterdir() if p.name.startswith(f"{kind}-"))
    while (jobs / f"{kind}-{number}").exists():
        number += 1
    folder = jobs / f"{kind}-{number}"
    folder.mkdir()
    return folder, False


class ChildJob:
    """Subclasses say what to run (`arguments`) and turn its lines into messages (`line`, `finished`)."""

    kind = "job"

    def __init__(self, post: Callable[[Message], Any], preset: Any, runs_root: Path | None,
                 run_dir: Path | None = None):
        self._post = post
        self.folder, self._temporary = job_folder(run_dir, self.kind)
        self.preset_file = self.folder / f"{preset.name}.toml"
        self.preset_file.write_text(preset.to_toml(), encoding="utf-8")
        self.runs_root = runs_root
        self._process: subprocess.Popen | None = None
        self._stopping = False
        self._problem = ""  # the first line `line()` could not handle

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
        # its own session: a closed terminal's SIGHUP reaches the app alone, which sends the one SIGTERM
        with open(self.folder / OUTPUT, "wb") as out, open(self.folder / ERRORS, "wb") as err:
            self._process = subprocess.Popen(self.command, stdout=out, stderr=err, stdin=subprocess.DEVNULL,
                                             start_new_session=True)
        threading.Thread(target=self._follow, name=type(self).__name__, daemon=True).start()

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def stop(self) -> None:
        """SIGTERM, once: a second one would stop the child at once, without its report."""
        if self.running and not self._stopping:
            assert self._process is not None
            self._stopping = True
            self._process.terminate()

    def _follow(self) -> None:
        assert self._process is not None
        self._problem = ""
        try:
            with open(self.folder / OUTPUT, "rb") as out:
                code = self._read_until_exit(out)
        except OSError as exc:
            self._problem = f"reading the job's output failed: {exc}"
            code = self._process.wait()
        error = self._problem or self._last_error_line()
        if self._temporary:
            shutil.rmtree(self.folder, ignore_errors=True)
        self.finished(code, error)

    def _read_until_exit(self, out) -> int:
        """Hand over each whole line as it is written (bytes until the newline: a character split
        across two writes is never decoded in halves); after the exit, what is left."""
        pending = b""
        while True:
            code = self._process.poll() if self._process is not None else 0
            pending += out.read()
            *lines, pending = pending.split(b"\n")
            for raw in lines:
                self._hand_over(raw)
            if code is not None:
                if pending.strip():
                    self._hand_over(pending)
                return code
            time.sleep(POLL_SECONDS)

    def _hand_over(self, raw: bytes) -> None:
        """One line to `line()`; the first one it cannot handle is said at once, the rest skipped
        (the child runs on; its report still comes)."""
        if self._problem:
            return
        try:
            self.line(raw.decode("utf-8", errors="replace").rstrip())
        except Exception as exc:  # noqa: BLE001 - a bad line must not leave the app waiting in silence
            self._problem = f"reading the job's output failed: {type(exc).__name__}: {exc}"
            self._post(JobProgress(f"{self.kind}: {self._problem}"))

    def _last_error_line(self) -> str:
        try:
            text = (self.folder / ERRORS).read_text(encoding="utf-8", errors="replace").strip()
        except OSError:
            return ""
        return text.splitlines()[-1] if text else ""
