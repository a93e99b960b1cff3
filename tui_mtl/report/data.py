"""What a report shows, read back from a comparison's run folder: `compare` (over seeds or one), or a
fork in the app. comparison.json holds the numbers; each branch's metrics.csv its curves."""

from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass
from pathlib import Path

from tui_mtl.runs import folder_name
from tui_mtl.stats import Difference, SeedResults

COMPARISON_FILE = "comparison.json"
SEED_BRANCHES = "seed-{seed}/branches"  # where `compare --seeds` keeps a seed's branches
ONE_SEED_BRANCHES = "branches"  # `compare` on one seed, and a fork in the app


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
    note: str = ""  # where the comparison came from, when not from `compare` (a fork in the app)

    def seeds_text(self) -> str:
        """"on 5 seeds (1, 2, 3, 4, 5), varying init" or "on one seed (1)"."""
        listed = ", ".join(map(str, self.seeds))
        if len(self.seeds) == 1:
            return f"on one seed ({listed})"
        return f"on {len(self.seeds)} seeds ({listed}), varying {', '.join(self.vary) or 'init'}"


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
        raise ReportError(f"{run_dir}: no {COMPARISON_FILE}; a report is made from a comparison (`tui-mtl compare`, "
                          f"or a fork in the app)")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        results: SeedResults = data["results"]
        strategies = list(results)
        heads = list(next(iter(results.values())))
        differences = [Difference(**d) for d in data["differences"]]
        seeds = [int(s) for s in data["seeds"]]
        branches = str(data.get("branches", SEED_BRANCHES))
    except (ValueError, KeyError, TypeError, StopIteration) as err:
        raise ReportError(f"{path}: not a comparison this version can read ({err})") from None
    curves: dict = {s: {h: {} for h in heads} for s in strategies}
    top = run_dir / "preset.toml"
    preset_toml = top.read_text(encoding="utf-8") if top.is_file() else ""
    for seed in seeds:
        for strategy in strategies:
            branch = run_dir / branches.format(seed=seed) / folder_name(strategy)
            metrics = branch / "metrics.csv"
            if metrics.is_file():
                for head in heads:
                    curves[strategy][head][seed] = _curve(metrics, head)
            if not preset_toml and (branch / "preset.toml").is_file():
                preset_toml = (branch / "preset.toml").read_text(encoding="utf-8")
    return ReportData(run_dir, heads, strategies, seeds, list(data.get("vary", [])), results, differences,
                      str(data.get("command", "")), preset_toml, curves,
                      str(data.get("metric", "final validation loss")), str(data.get("note", "")))


def finite(values) -> list[float]:
    return [v for v in values if isinstance(v, (int, float)) and math.isfinite(v)]
