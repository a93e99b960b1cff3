"""The report's tables as rows of strings (HTML and Markdown render them)."""

from __future__ import annotations

import math

from tui_mtl.report.data import ReportData
from tui_mtl.stats import mean_interval


def _fmt(value: float) -> str:
    return f"{value:.4g}" if math.isfinite(value) else "-"


def summary_rows(data: ReportData) -> list[list[str]]:
    rows = [["head", "strategy", "val loss mean", "95% CI", "seeds", "diverged"]]
    for head in data.heads:
        for strategy in data.strategies:
            interval = mean_interval(data.results[strategy][head])
            ci = f"{_fmt(interval.low)} .. {_fmt(interval.high)}" if math.isfinite(interval.low) else "-"
            rows.append([head, strategy, _fmt(interval.mean), ci, str(interval.n), str(interval.diverged or "")])
    return rows


def one_seed_hint(data: ReportData) -> str:
    """With one seed there is no interval and no test: say how to get them."""
    if len(data.seeds) > 1:
        return ""
    return (" One seed gives no interval and no test: `tui-mtl compare PRESET --strategies ... --seeds 5` repeats "
            "the comparison and says whether each difference is real.")
