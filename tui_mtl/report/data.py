"""What a report shows, read back from a run folder written by `compare --seeds`."""

from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass
from pathlib import Path

from tui_mtl.runs import folder_name
from tui_mtl.stats import Difference, SeedResults

COMPARISON_FILE = "comparison.json"


class ReportError(ValueError):
    """The folder holds no comparison over seeds (or a damaged one)."""


@dataclass(frozen=True)
class ReportData:
    run_dir: Path
    heads: list[str]
    strategies: list[str]
    seeds: list[int]
    vary: list[str]
    results: SeedResults
    differences: list[Difference]
    command: str
    preset_toml: str
    # strategy -> head -> seed -> (steps, validation losses)
    curves: dict[str, dict[str, dict[int, tuple[list[int], list[float]]]]]
    metric: str = "final validation loss"  # what `results` holds per seed (`compare --window`)


def _curve(metrics: Path, head: str) -> tuple[list[int], list[float]]:
    steps, values = [], []
    with metrics.open(newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            value = row.get(f"val_loss_{head}") or ""
            if value:
                steps.append(int(row["step"]))
                values.append(float(value))
    return steps, values


def read_report_data(run_dir: Path) -> ReportData:
    path = run_dir / COMPARISON_FILE
    if not path.is_file():
        raise ReportError(f"{run_dir}: no {COMPARISON_FILE}; a report is made from `tui-mtl compare --seeds N`")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        results: SeedResults = data["results"]
        strategies = list(results)
        heads = list(next(iter(results.values())))
        differences = [Difference(**d) for d in data["differences"]]
        seeds = [int(s) for s in data["seeds"]]
    except (ValueError, KeyError, TypeError, StopIteration) as err:
        raise ReportError(f"{path}: not a comparison this version can read ({err})") from None
    curves: dict = {s: {h: {} for h in heads} for s in strategies}
    top = run_dir / "preset.toml"
    preset_toml = top.read_text(encoding="utf-8") if top.is_file() else ""
    for seed in seeds:
        for strategy in strategies:
            branch = run_dir / f"seed-{seed}" / "branches" / folder_name(strategy)
            metrics = branch / "metrics.csv"
            if metrics.is_file():
                for head in heads:
                    curves[strategy][head][seed] = _curve(metrics, head)
            if not preset_toml and (branch / "preset.toml").is_file():
                preset_toml = (branch / "preset.toml").read_text(encoding="utf-8")
    return ReportData(run_dir, heads, strategies, seeds, list(data.get("vary", [])), results, differences,
                      str(data.get("command", "")), preset_toml, curves,
                      str(data.get("metric", "final validation loss")))


def finite(values) -> list[float]:
    return [v for v in values if isinstance(v, (int, float)) and math.isfinite(v)]
