"""Per-head series of every report, in bounded memory, with the change markers."""

from __future__ import annotations

import threading

from tui_mtl.engine.reports import Event, Report


class Series:
    """(step, value) points; past `max_points`, neighbours are merged so memory stays bounded.

    Merging averages pairs, so a decimated curve keeps its level instead of aliasing.
    """

    def __init__(self, max_points: int = 4096):
        self.max_points = max_points
        self.steps: list[float] = []
        self.values: list[float] = []
        self._stride = 1  # how many raw points one stored point stands for, for the newest points
        self._pending: list[tuple[float, float]] = []

    def append(self, step: float, value: float) -> None:
        self._pending.append((step, value))
        if len(self._pending) < self._stride:
            return
        steps, values = zip(*self._pending)
        self._pending.clear()
        self.steps.append(sum(steps) / len(steps))
        self.values.append(sum(values) / len(values))
        if len(self.steps) >= self.max_points:
            self._halve()

    def _halve(self) -> None:
        self.steps = [(a + b) / 2 for a, b in zip(self.steps[0::2], self.steps[1::2])]
        self.values = [(a + b) / 2 for a, b in zip(self.values[0::2], self.values[1::2])]
        self._stride *= 2

    def points(self) -> tuple[list[float], list[float]]:
        steps, values = list(self.steps), list(self.values)
        if self._pending:  # the newest raw points are shown at once, not after a whole stride
            steps.append(sum(s for s, _ in self._pending) / len(self._pending))
            values.append(sum(v for _, v in self._pending) / len(self._pending))
        return steps, values

    def __len__(self) -> int:
        return len(self.steps) + bool(self._pending)

    def truncate_after(self, step: float) -> None:
        """Forget the points after `step` (a rewind)."""
        keep = sum(1 for s in self.steps if s <= step)
        del self.steps[keep:], self.values[keep:]
        self._pending = [p for p in self._pending if p[0] <= step]

    def minimum(self) -> float | None:
        values = self.points()[1]
        return min(values) if values else None

    def to_dict(self) -> dict:
        return {"steps": self.steps, "values": self.values, "stride": self._stride,
                "pending": [list(p) for p in self._pending]}

    @classmethod
    def from_dict(cls, data: dict, max_points: int) -> "Series":
        series = cls(max_points)
        series.steps, series.values = list(data["steps"]), list(data["values"])
        series._stride = int(data["stride"])
        series._pending = [tuple(p) for p in data["pending"]]
        return series


class History:
    """Everything the plots and tables need, appended from the engine's thread, read from any."""

    def __init__(self, max_points: int = 4096):
        self._lock = threading.Lock()
        self.max_points = max_points
        self.train: dict[str, Series] = {}
        self.val: dict[str, Series] = {}
        self.val_metric: dict[str, Series] = {}
        self.events: list[Event] = []
        # diagnostics and effective weights: "grad_norm/head", "update_share/head", "cosine/a~b",
        # "conflict_share", "effective_weight/head"
        self.diagnostics: dict[str, Series] = {}
        self.best_train: dict[str, float] = {}
        self.best_val: dict[str, float] = {}
        self.last: Report | None = None
        self._last_train_step = 0

    def _series(self, table: dict, head: str) -> Series:
        if head not in table:
            table[head] = Series(self.max_points)
        return table[head]

    def add(self, report: Report) -> None:
        with self._lock:
            self.last = report
            self.events.extend(report.events)
            fresh = report.step > self._last_train_step  # a final or paused report repeats old values
            self._last_train_step = max(self._last_train_step, report.step)
            for head, value in report.train_loss.items() if fresh else ():
                self._series(self.train, head).append(report.step, value)
                self.best_train[head] = min(value, self.best_train.get(head, float("inf")))
            for head, value in (report.val_loss or {}).items():
                self._series(self.val, head).append(report.step, value)
                self.best_val[head] = min(value, self.best_val.get(head, float("inf")))
            for head, value in (report.val_metric or {}).items():
                self._series(self.val_metric, head).append(report.step, value)
            for head, value in (report.effective_weights or {}).items() if fresh else ():
                self._series(self.diagnostics, f"effective_weight/{head}").append(report.step, value)
            diag = report.diagnostics or {}
            for kind in ("grad_norm", "update_share", "cosine"):
                for key, value in diag.get(kind, {}).items():
                    self._series(self.diagnostics, f"{kind}/{key}").append(report.step, value)
            if "conflict_share" in diag:
                self._series(self.diagnostics, "conflict_share").append(report.step, diag["conflict_share"])

    def truncate_after(self, step: int, undone: list[Event] | None = None) -> None:
        """Forget everything after `step`, and the `undone` events: the plots and tables go back with a
        rewind. (Best values are recomputed from the kept points, which past the memory bound are
        averages of neighbours.)"""
        with self._lock:
            for table in (self.train, self.val, self.val_metric, self.diagnostics):
                for series in table.values():
                    series.truncate_after(step)
            gone = {id(e) for e in undone or ()}
            self.events = [e for e in self.events if e.step <= step and id(e) not in gone]
            for best, table in ((self.best_train, self.train), (self.best_val, self.val)):
                best.clear()
                best.update({h: m for h, s in table.items() if (m := s.minimum()) is not None})
            self._last_train_step = min(self._last_train_step, step)

    def snapshot(self, head: str) -> dict:
        """Copies of one head's series, safe to use while training appends."""
        with self._lock:
            return {
                "train": self.train[head].points() if head in self.train else ([], []),
                "val": self.val[head].points() if head in self.val else ([], []),
            }

    TABLES = ("train", "val", "val_metric", "diagnostics")

    def to_dict(self) -> dict:
        """Plain data (JSON-able) for checkpoints."""
        with self._lock:
            return {
                "max_points": self.max_points,
                **{table: {k: v.to_dict() for k, v in getattr(self, table).items()} for table in self.TABLES},
                "events": [[e.step, e.kind, e.text] for e in self.events],
                "best_train": self.best_train, "best_val": self.best_val,
                "last_train_step": self._last_train_step,
            }

    @classmethod
    def from_dict(cls, data: dict) -> "History":
        history = cls(int(data["max_points"]))
        for table in cls.TABLES:
            setattr(history, table, {k: Series.from_dict(v, history.max_points) for k, v in data[table].items()})
        history.events = [Event(int(step), kind, text) for step, kind, text in data["events"]]
        history.best_train = dict(data["best_train"])
        history.best_val = dict(data["best_val"])
        history._last_train_step = int(data["last_train_step"])
        return history

    def diagnostic_points(self, key: str) -> tuple[list[float], list[float]]:
        with self._lock:
            return self.diagnostics[key].points() if key in self.diagnostics else ([], [])

    def markers(self) -> list[Event]:
        with self._lock:
            return list(self.events)
