"""`o` in the app: `tui-mtl sweep` of the selected head's rate, a decade either side of its value,
on the settings in force, in a child process. Each trial is a row as it finishes (`SweepTrials`:
the table, sorted by objective, the best first); at the end the best few and the report."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from textual.message import Message

from tui_mtl.ui.child_job import ChildJob, JobDone, JobProgress

TRIALS = 8
MAX_STEPS = 500  # per trial: a short look, not the preset's whole run
SHOWN = 5
# as TrialPrinter prints them: `trial 3 lr x 0.00123: objective 0.0234  (best 0.02, trial 1)`,
# `trial 4 lr x 0.05: pruned at step 20 (...)`, `trial 5 lr x 9: failed: ...` (not the best-five table)
TRIAL_LINE = re.compile(r"^trial (\d+) (.*?): (?:objective (\S+)|pruned at step (\d+)|(failed))")


@dataclass(frozen=True)
class TrialRow:
    number: int
    settings: str  # e.g. "lr x 0.00123"
    objective: float | None  # None: pruned or failed
    outcome: str  # "complete", "pruned at step 20", "failed (diverged)"


def ranked(rows: list[TrialRow]) -> list[TrialRow]:
    """Complete trials by objective (the best first), then pruned (the later the better), then failed."""
    def key(row: TrialRow) -> tuple:
        if row.objective is not None and math.isfinite(row.objective):
            return (0, row.objective, row.number)
        if row.outcome.startswith("pruned"):
            return (1, -int(row.outcome.rsplit(" ", 1)[-1]), row.number)
        return (2, 0, row.number)
    return sorted(rows, key=key)


class SweepTrials(Message):
    """The trials so far, ranked; `done` with the report's path (None: none, or it failed)."""

    def __init__(self, head: str, total: int, rows: list[TrialRow], done: bool = False,
                 report: str | None = None) -> None:
        super().__init__()
        self.head, self.total, self.rows, self.done, self.report = head, total, rows, done, report

    @property
    def best(self) -> TrialRow | None:
        return self.rows[0] if self.rows and self.rows[0].objective is not None else None


class SweepJob(ChildJob):
    kind = "sweep"

    def __init__(self, post: Callable[[Message], Any], preset: Any, head: str, rate: float, runs_root: Path | None,
                 run_dir: Path | None = None):
        super().__init__(post, preset, runs_root, run_dir)
        self.head, self.rate = head, rate
        self.trials, self.steps = TRIALS, min(preset.training.steps, MAX_STEPS)
        self.strategy = preset.strategy.name
        self.rows: list[TrialRow] = []
        self._report: str | None = None

    def arguments(self) -> list[str]:
        return ["sweep", str(self.preset_file), "--strategy", self.strategy, "--lr",
                f"{self.head}={self.rate / 10:.6g}:{self.rate * 10:.6g}", "--trials", str(self.trials),
                "--steps", str(self.steps)]

    def line(self, text: str) -> None:
        match = TRIAL_LINE.match(text)
        if match:
            number, settings, objective, pruned_at, _failed = match.groups()
            outcome = "complete" if objective else f"pruned at step {pruned_at}" if pruned_at else "failed (diverged)"
            self.rows.append(TrialRow(int(number), settings, float(objective) if objective else None, outcome))
            self._post(JobProgress(f"sweep {self.head} lr: {len(self.rows)}/{self.trials} trials; "
                                   f"{self._best_text()}"))
            self._post(self.table())
        elif text.startswith("report: "):
            self._report = text.removeprefix("report: ")

    def table(self, done: bool = False) -> SweepTrials:
        return SweepTrials(self.head, self.trials, ranked(self.rows), done, self._report)

    def _best_text(self) -> str:
        best = self.table().best
        if best is None:
            return "none complete yet"
        return f"best {best.settings} (objective {best.objective:.4g}, trial {best.number})"

    def finished(self, code: int, error: str) -> None:
        complete = [row for row in ranked(self.rows) if row.objective is not None][:SHOWN]
        lines = [f"{'★' if i == 0 else ' '} trial {row.number}: {row.settings} → {row.objective:.4g}"
                 for i, row in enumerate(complete)]
        if complete:
            lines.append(f"e sets the rate (now {self.rate:.3g})")
        self._post(self.table(done=True))
        summary = f"sweep {self.head} lr done: {self._best_text()}"
        self._post(JobDone(f"Sweep of {self.head}'s rate ({self.strategy})", summary, lines, self._report, code,
                           error))
