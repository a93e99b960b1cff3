"""Following a run folder's metrics.csv as it grows (a tui-mtl run, or a Keras fit streamed by
tui_mtl.keras.LiveCallback): only whole new lines are read each time."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class RunSeries:
    """Per-head train and validation losses by step, and the latest row's state."""

    heads: list[str] = field(default_factory=list)
    train: dict[str, tuple[list[float], list[float]]] = field(default_factory=dict)
    val: dict[str, tuple[list[float], list[float]]] = field(default_factory=dict)
    step: int = 0
    state: str = ""
    strategy: str = ""
    steps_per_sec: float | None = None

    def snapshot(self, head: str) -> dict:
        """What a LossPlot draws: {"train": (steps, values), "val": (steps, values)}."""
        return {"train": self.train.get(head, ([], [])), "val": self.val.get(head, ([], []))}


class MetricsTail:
    def __init__(self, run_dir: Path):
        self.run_dir = Path(run_dir)
        self.path = self.run_dir / "metrics.csv"
        self.series = RunSeries()
        self._offset = 0
        self._header: list[str] | None = None

    def poll(self) -> bool:
        """Read the lines added since the last call; True when there were any."""
        try:
            with open(self.path, "rb") as handle:
                handle.seek(self._offset)
                chunk = handle.read()
        except FileNotFoundError:
            return False
        end = chunk.rfind(b"\n")
        if end < 0:
            return False
        self._offset += end + 1
        lines = chunk[: end + 1].decode("utf-8", "replace").splitlines()
        rows = list(csv.reader(io.StringIO("\n".join(lines))))
        if self._header is None and rows:
            self._header, rows = rows[0], rows[1:]
            self.series.heads = [c[len("loss_"):] for c in self._header if c.startswith("loss_")]
        for values in rows:
            self._add(dict(zip(self._header or [], values)))
        return bool(rows)

    def _add(self, row: dict) -> None:
        series = self.series
        try:
            step = int(float(row.get("step") or 0))
        except ValueError:
            return  # a torn or foreign line: skip it
        series.step = max(series.step, step)
        series.state = row.get("state") or series.state
        series.strategy = row.get("strategy") or series.strategy
        if row.get("steps_per_sec"):
            series.steps_per_sec = _number(row["steps_per_sec"])
        for head in series.heads:
            for kind, target in (("loss_", series.train), ("val_loss_", series.val)):
                value = _number(row.get(f"{kind}{head}", ""))
                if value is not None:
                    steps, values = target.setdefault(head, ([], []))
                    steps.append(float(step))
                    values.append(value)

    def meta(self) -> dict:
        """live.json of a streamed Keras fit (empty for tui-mtl's own runs)."""
        try:
            return json.loads((self.run_dir / "live.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}


def _number(text: str) -> float | None:
    try:
        return float(text) if text != "" else None
    except ValueError:
        return None
