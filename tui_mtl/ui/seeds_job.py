"""A fork "× N seeds" from the app: the same comparison repeated on N seeds by `tui-mtl compare
--seeds N` in a child process, with the settings in force now and the current step as its warm-up.

The live weights are one sample of one seed, so seeds cannot start from them: each seed trains from
its own initial weights with what is in force now, forks at the same step, and the verdict says
whether the differences are real."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from textual.message import Message

from tui_mtl.ui.child_job import ChildJob, JobDone, JobProgress


class SeedsJob(ChildJob):
    kind = "seeds"

    def __init__(self, post: Callable[[Message], Any], preset: Any, strategies: list[str], seeds: int, warmup: int,
                 steps: int, runs_root: Path | None, run_dir: Path | None = None):
        super().__init__(post, preset, runs_root, run_dir)
        self.strategies, self.seeds, self.warmup, self.steps = strategies, seeds, warmup, steps
        self._verdict: list[str] = []
        self._in_verdict = False
        self._report: str | None = None

    def arguments(self) -> list[str]:
        return ["compare", str(self.preset_file), "--strategies", ",".join(self.strategies), "--seeds",
                str(self.seeds), "--warmup", str(self.warmup), "--steps", str(self.steps), "--quiet"]

    def line(self, text: str) -> None:
        """compare --seeds prints `seed S (i/N) val loss: ...`, then `verdict:` and indented lines,
        then `report: PATH`."""
        if text.startswith("seed "):
            self._post(JobProgress(f"× seeds: {text.split(' val loss')[0]} done"))
        elif text == "verdict:":
            self._in_verdict = True
        elif self._in_verdict and text.startswith("  "):
            self._verdict.append(text.strip())
        elif text.startswith("report: "):
            self._report = text.removeprefix("report: ")

    def finished(self, code: int, error: str) -> None:
        self._post(JobDone("Comparison over seeds", f"× seeds: verdict in {self._report}", self._verdict[:6],
                           self._report, code, error))
