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
