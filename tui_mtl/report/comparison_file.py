"""Write a comparison's numbers (comparison.json) and its report.html into its run folder: the one
writer behind `compare` (over seeds or one) and a fork in the app."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

from tui_mtl.fileio import atomic_write_text
from tui_mtl.report.data import COMPARISON_FILE, SEED_BRANCHES, read_report_data
from tui_mtl.report.html import write_html
from tui_mtl.stats import Difference, SeedResults


def write_comparison(run_dir: Path, results: SeedResults, differences: list[Difference], *, seeds: list[int],
                     vary: list[str], metric: str, command: str = "", window: int = 1,
                     branches: str = SEED_BRANCHES, note: str = "") -> Path:
    """Both files, each written atomically; returns report.html's path. `branches`: the folder of a
    seed's branch folders, relative to `run_dir` (`{seed}` is replaced)."""
    data = {"seeds": seeds, "vary": vary, "metric": metric, "window": window, "command": command,
            "branches": branches, "note": note, "results": results, "differences": [asdict(d) for d in differences]}
    atomic_write_text(run_dir / COMPARISON_FILE, json.dumps(data, indent=2, allow_nan=True) + "\n")
    return write_html(read_report_data(run_dir))
