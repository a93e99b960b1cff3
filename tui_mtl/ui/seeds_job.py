"""A fork "× N seeds" from the app: the same comparison repeated on N seeds by `tui-mtl compare
--seeds N` in a child process, with the settings in force now and the current step as its warm-up.

The live weights are one sample of one seed, so seeds cannot start from them: each seed trains from
its own initial weights with what is in force now, forks at the same step, and the verdict says
whether the differences are real. A child process, not the training thread: the live run stays as
it is (paused), the child's TensorFlow never shares a thread with the app's, and quitting the app
stops it (SIGTERM: it reports the seeds it finished, in its own run folder)."""

from __future__ import annotations

import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any, Callable

from textual.message import Message


class SeedsProgress(Message):
    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text


class SeedsDone(Message):
    def __init__(self, code: int, verdict: list[str], report: str | None, run_dir: str | None, error: str) -> None:
        super().__init__()
        self.code, self.verdict, self.report, self.run_dir, self.error = code, verdict, report, run_dir, error


def compare_command(preset_file: Path, strategies: list[str], seeds: int, warmup: int, steps: int,
                    runs_root: Path | None) -> list[str]:
    command = [sys.executable, "-m", "tui_mtl", "compare", str(preset_file), "--strategies", ",".join(strategies),
               "--seeds", str(seeds), "--warmup", str(warmup), "--steps", str(steps), "--quiet"]
    return command + (["--runs-dir", str(runs_root)] if runs_root is not None else [])


class SeedsJob:
    def __init__(self, post: Callable[[Message], Any], preset: Any, strategies: list[str], seeds: int, warmup: int,
                 steps: int, runs_root: Path | None):
        self._post = post
        self._folder = tempfile.TemporaryDirectory(prefix="tui-mtl-seeds-")
        preset_file = Path(self._folder.name) / f"{preset.name}.toml"
        preset_file.write_text(preset.to_toml(), encoding="utf-8")
        self.command = compare_command(preset_file, strategies, seeds, warmup, steps, runs_root)
        self.seeds = seeds
        self._process: subprocess.Popen | None = None

    def start(self) -> None:
        # stderr to a file: TensorFlow's start-up lines could fill a pipe nobody reads while stdout is followed
        self._stderr = open(Path(self._folder.name) / "stderr.log", "w+", encoding="utf-8")  # noqa: SIM115
        self._process = subprocess.Popen(self.command, stdout=subprocess.PIPE, stderr=self._stderr, text=True,
                                         stdin=subprocess.DEVNULL)
        threading.Thread(target=self._follow, name="seeds", daemon=True).start()

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def stop(self) -> None:
        if self.running:
            assert self._process is not None
            self._process.terminate()

    def _follow(self) -> None:
        assert self._process is not None and self._process.stdout is not None
        verdict: list[str] = []
        report = run_dir = None
        in_verdict = False
        for line in self._process.stdout:
            line = line.rstrip()
            if line.startswith("seed "):
                self._post(SeedsProgress(f"× seeds: {line.split(' val loss')[0]} done"))
            elif line == "verdict:":
                in_verdict = True
            elif in_verdict and line.startswith("  "):
                verdict.append(line.strip())
            elif line.startswith("report: "):
                report = line.removeprefix("report: ")
            elif line.startswith("run folder: "):
                run_dir = line.removeprefix("run folder: ").split(" (")[0]
        code = self._process.wait()
        self._stderr.seek(0)
        error = self._stderr.read().strip()
        self._stderr.close()
        self._folder.cleanup()
        self._post(SeedsDone(code, verdict, report, run_dir, error.splitlines()[-1] if error else ""))
