"""`o` in the app: `tui-mtl sweep` of the selected head's rate, a decade either side of its value,
on the settings in force, in a child process. Trials are said as they finish; at the end the best
few, sorted by objective, and the report."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Callable

from textual.message import Message

from tui_mtl.ui.child_job import ChildJob, JobDone, JobProgress

TRIALS = 8
MAX_STEPS = 500  # per trial: a short look, not the preset's whole run
SHOWN = 5
# `trial 3 lr x 0.00123: objective 0.0234  (best 0.02, trial 1)`, as TrialPrinter prints it
COMPLETE = re.compile(r"^trial (\d+) (.*): objective (\S+)")
TRIAL_LINE = re.compile(r"^trial \d+ .*: (objective|pruned|failed)")  # not the best-five table's header


class SweepJob(ChildJob):
    kind = "sweep"

    def __init__(self, post: Callable[[Message], Any], preset: Any, head: str, rate: float, runs_root: Path | None,
                 run_dir: Path | None = None):
        super().__init__(post, preset, runs_root, run_dir)
        self.head, self.rate = head, rate
        self.trials, self.steps = TRIALS, min(preset.training.steps, MAX_STEPS)
        self.strategy = preset.strategy.name
        self._done: list[tuple[float, str, str]] = []  # (objective, trial, settings)
        self._report: str | None = None
        self._finished = 0

    def arguments(self) -> list[str]:
        return ["sweep", str(self.preset_file), "--strategy", self.strategy, "--lr",
                f"{self.head}={self.rate / 10:.6g}:{self.rate * 10:.6g}", "--trials", str(self.trials),
                "--steps", str(self.steps)]

    def line(self, text: str) -> None:
        if TRIAL_LINE.match(text):
            self._finished += 1
            match = COMPLETE.match(text)
            if match:
                self._done.append((float(match.group(3)), match.group(1), match.group(2)))
            self._post(JobProgress(f"sweep {self.head} lr: {self._finished}/{self.trials} trials; "
                                   f"{self._best_text()}"))
        elif text.startswith("report: "):
            self._report = text.removeprefix("report: ")

    def _best_text(self) -> str:
        if not self._done:
            return "none complete yet"
        value, trial, settings = min(self._done)
        return f"best {settings} (objective {value:.4g}, trial {trial})"

    def finished(self, code: int, error: str) -> None:
        ranked = sorted(self._done)[:SHOWN]
        lines = [f"{'★' if i == 0 else ' '} trial {trial}: {settings} → {value:.4g}"
                 for i, (value, trial, settings) in enumerate(ranked)]
        if ranked:
            lines.append(f"e sets the rate (now {self.rate:.3g})")
        summary = f"sweep {self.head} lr done: {self._best_text()}"
        self._post(JobDone(f"Sweep of {self.head}'s rate ({self.strategy})", summary, lines, self._report, code,
                           error))
