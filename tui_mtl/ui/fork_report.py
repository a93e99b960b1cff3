"""The report of a fork in the app: when every branch has reached its target, and again at quit if
they validated since, comparison.json and report.html go into the run folder, as `tui-mtl compare`
writes them for one seed. The numbers are each branch's last validation after the fork, read from
its history: no TensorFlow work, so a quit is never held up by a validation pass."""

from __future__ import annotations

import math
import shlex
from pathlib import Path
from typing import Any

from tui_mtl.engine import State

LAST_LOSS = "last validation loss"


class ForkReport:
    def __init__(self, run_dir: Path, preset: Any, branches: list):
        self.run_dir = run_dir
        self.preset = preset
        self.plain = all(isinstance(b, str) for b in branches)  # only strategy names: `compare` can redo it
        self.written_at = -1  # the step of the last validation reported

    @staticmethod
    def due(reports: dict) -> bool:
        """Every branch finished or stopped."""
        return all(r.state in (State.FINISHED, State.FAULTED) for r in reports.values())

    def write(self, comparison: Any) -> Path | None:
        """None when there is nothing new: no validation since the fork, none since the last report,
        or every branch diverged (no number to compare)."""
        heads = list(self.preset.model.head_names)
        results, at = {}, 0
        for name, branch in comparison.branches.items():
            last = {h: _last_after(branch.history.val.get(h), comparison.fork_step) for h in heads}
            if any(point is None for point in last.values()) and name not in comparison.diverged:
                return None
            at = max([at, *(point[0] for point in last.values() if point is not None)])
            results[name] = {h: [math.nan if name in comparison.diverged or point is None else point[1]]
                             for h, point in last.items()}
        if at == self.written_at or all(math.isnan(v) for r in results.values() for (v,) in r.values()):
            return None
        from tui_mtl.report.comparison_file import write_comparison  # matplotlib and scipy: only now (~1.5 s)
        from tui_mtl.report.data import ONE_SEED_BRANCHES
        from tui_mtl.stats import paired_differences

        steps = comparison.step_count - comparison.fork_step
        note = (f"Forked in the app at step {comparison.fork_step}; the branches trained {steps} steps after it; "
                f"the {LAST_LOSS} is at step {at}.")
        page = write_comparison(self.run_dir, results, paired_differences(results, heads),
                                seeds=[self.preset.data.seed], vary=[], metric=LAST_LOSS, note=note,
                                command=self._command(comparison, steps), branches=ONE_SEED_BRANCHES)
        self.written_at = at
        return page

    def _command(self, comparison: Any, steps: int) -> str:
        """The `compare` that retrains it (the warm-up with the preset's settings: a change made in
        the app before the fork is in the branches' own preset.toml, not replayed)."""
        if not self.plain:
            return ""
        strategies = ",".join(branch.strategy for branch in comparison.branches.values())
        return (f"tui-mtl compare {shlex.quote(str(self.run_dir / 'preset.toml'))} --strategies {strategies} "
                f"--warmup {comparison.fork_step} --steps {steps}")


def _last_after(series: Any, fork_step: int) -> tuple[int, float] | None:
    """The last (step, value) after the fork, or None."""
    if series is None:
        return None
    steps, values = series.points()
    after = [(int(s), float(v)) for s, v in zip(steps, values) if s > fork_step]
    return after[-1] if after else None
