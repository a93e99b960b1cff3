"""What headless commands print and write as they train: progress lines and metrics files."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

from tui_mtl.cli.args import UsageError

# exit codes (README: Headless)
OK, APP_UNAVAILABLE, USAGE, DIVERGED = 0, 1, 2, 3


def fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


def eta(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 60}:{seconds % 60:02d}"


class MetricsWriter:
    """One row per report, flushed as it goes, so a crash keeps everything written so far."""

    def __init__(self, path: str):
        self.path = Path(path)
        if self.path.suffix not in (".csv", ".jsonl"):
            raise UsageError(f"--metrics-out {path}: use a .csv or .jsonl file name")
        if self.path.parent.exists() and not self.path.parent.is_dir():  # mkdir would say "File exists"
            raise UsageError(f"--metrics-out {path}: {self.path.parent} is not a folder")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.handle = open(self.path, "w", newline="", encoding="utf-8")
        except OSError as err:
            raise UsageError(f"--metrics-out {path}: {err.strerror or err}") from None
        self.csv: csv.DictWriter | None = None

    def write(self, report) -> None:
        self.write_row(report.as_row())

    def write_row(self, row: dict) -> None:
        if self.path.suffix == ".jsonl":
            self.handle.write(json.dumps(row) + "\n")
        else:
            if self.csv is None:
                self.csv = csv.DictWriter(self.handle, fieldnames=list(row), extrasaction="ignore")
                self.csv.writeheader()
            self.csv.writerow({k: "" if v is None else v for k, v in row.items()})
        self.handle.flush()

    def close(self) -> None:
        self.handle.close()


class ProgressPrinter:
    """A line every `interval` seconds of training, on every validation and at the end; events as they come."""

    def __init__(self, heads: list[str], start_step: int, interval: float = 0.5):
        self.heads = heads
        self.start_step = start_step
        self.interval = interval
        self.last_print = -math.inf
        self.last_step: int | None = None

    def __call__(self, report) -> None:
        for event in report.events:
            print(f"step {event.step}: {event.kind}: {event.text}")
        is_val = report.val_loss is not None
        running = report.state == "running"
        if running and not is_val and (report.elapsed - self.last_print < self.interval or report.steps_per_sec <= 0):
            return  # throttled; and no line before a rate is known (the first step compiles)
        if not running and not is_val and report.step == self.last_step:
            return  # the end, at the step the last line showed
        self.last_print, self.last_step = report.elapsed, report.step
        done = report.step - self.start_step
        total = report.target_step - self.start_step
        rate = report.steps_per_sec
        left = eta((total - done) / rate) if rate > 0 else "?"
        losses = "  ".join(f"{h} {fmt(report.train_loss.get(h))}" for h in self.heads)
        line = f"step {report.step}/{report.target_step}  {losses}  | {rate:.0f} steps/s  ETA {left}"
        if is_val:
            line += "  | val " + "  ".join(f"{h} {fmt(report.val_loss[h])}" for h in self.heads)
        print(line, flush=True)


class BranchProgress:
    """A comparison's progress: one line per report, every branch's train losses named by head."""

    def __init__(self, heads: list[str], writer: MetricsWriter | None, quiet: bool, interval: float = 0.5):
        self.heads, self.writer, self.quiet, self.interval = heads, writer, quiet, interval
        self.last_print = -math.inf

    def __call__(self, reports: dict) -> None:
        first = next(iter(reports.values()))
        if self.writer:
            row = {"step": first.step}
            for name, report in reports.items():
                row.update({f"{name}:{key}": value for key, value in report.as_row().items() if key != "step"})
            self.writer.write_row(row)
        if self.quiet or first.state != "running" or first.elapsed - self.last_print < self.interval:
            return
        self.last_print = first.elapsed
        parts = [f"{name}: " + " ".join(f"{h} {fmt(r.train_loss.get(h))}" for h in self.heads)
                 for name, r in reports.items()]
        print(f"step {first.step}/{first.target_step}  " + "  |  ".join(parts), flush=True)
