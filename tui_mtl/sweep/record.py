"""A sweep's run folder: sweep.json, rewritten (atomically) after every trial, so an interrupted or
crashed sweep keeps what finished; the report is made from it. In a shared study the file holds
every trial of the study, whichever process ran it."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from tui_mtl.fileio import atomic_write_text

SWEEP_FILE = "sweep.json"


def _number(value: Any) -> float | None:
    return float(value) if value is not None and math.isfinite(value) else None


def trial_rows(study: Any) -> list[dict]:
    rows = []
    for t in study.trials:
        if t.state.name in ("RUNNING", "WAITING"):
            continue
        values = t.values if t.state.name == "COMPLETE" and t.values is not None else []
        rows.append({"number": t.number, "state": t.state.name, "params": dict(t.params),
                     "values": [_number(v) for v in values],
                     "intermediate": {str(step): _number(v) for step, v in sorted(t.intermediate_values.items())},
                     "val_loss": t.user_attrs.get("val_loss", {}), "diverged": t.user_attrs.get("diverged", ""),
                     "process": t.user_attrs.get("process", "")})
    return rows


def pareto_numbers(study: Any) -> list[int]:
    return [t.number for t in study.best_trials]


class SweepRecord:
    """Optuna's trial callback: the file after each finished trial."""

    def __init__(self, run_dir: Path, header: dict):
        self.path = run_dir / SWEEP_FILE
        self.header = header  # names, heads, objective, pareto, strategy, steps, study, command

    def __call__(self, study: Any, _trial: Any = None) -> None:
        self.write(study)

    def write(self, study: Any) -> None:
        complete = any(t.state.name == "COMPLETE" for t in study.trials)
        data = {**self.header, "trials": trial_rows(study), "front": pareto_numbers(study) if complete else []}
        atomic_write_text(self.path, json.dumps(data, indent=2) + "\n")
