"""`LiveCallback`: stream your own `model.fit` into a run folder that `tui-mtl watch` plots live.

    model.fit(ds, epochs=10, callbacks=[tui_mtl.keras.LiveCallback()])   # prints the folder
    $ tui-mtl watch latest

The folder holds what tui-mtl's own runs hold for losses: `metrics.csv` (one row per interval:
per-head train loss as the mean over the steps since the previous row, validation losses at each
epoch's end, the rates of a MultiTaskModel), `events.jsonl` and `live.json` (heads, state).
"""

from __future__ import annotations

import csv
import json
import time
from pathlib import Path
from typing import Any

import keras

from tui_mtl.fileio import atomic_write_text

LIVE_FILE = "live.json"


class LiveCallback(keras.callbacks.Callback):
    def __init__(self, run_dir: str | Path | None = None, *, name: str | None = None,
                 runs_dir: str | Path | None = None, interval: float = 0.25):
        """`run_dir`: the folder to write (default: a new one under the runs folder, named by time and
        `name` or the model's name). `interval`: seconds between rows (each row is the mean since
        the previous one, as in tui-mtl's own runs)."""
        super().__init__()
        self._run_dir = Path(run_dir) if run_dir is not None else None
        self._name = name
        self._runs_dir = Path(runs_dir) if runs_dir is not None else None
        self.interval = interval
        self.heads: list[str] = []
        self.run_dir: Path | None = None
        self._step = 0
        self._sums: dict[str, float] = {}  # per-head loss summed over the epoch so far (mean x batches)
        self._written: dict[str, float] = {}  # ... at the last row
        self._written_batches = 0
        self._last_row = 0.0
        self._last_step_time = 0.0
        self._rows_steps = 0
        self._writer: Any = None
        self._file: Any = None
        self._events: Any = None

    # --- Keras hooks -----------------------------------------------------------------------

    def on_train_begin(self, logs=None):
        from tui_mtl.runs import new_run_dir

        if self._run_dir is None:
            self._run_dir = new_run_dir(self._name or _folder_name(getattr(self.model, "name", "fit")),
                                        self._runs_dir)
        self.run_dir = self._run_dir
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self._events = open(self.run_dir / "events.jsonl", "a", encoding="utf-8")
        self._step = self._rows_steps = _last_step(self.run_dir / "metrics.csv")  # a second fit continues
        self._started = self._last_row = time.monotonic()
        self._meta("running")
        print(f"tui_mtl.keras.LiveCallback: streaming to {self.run_dir}  (tui-mtl watch {self.run_dir})")

    def on_epoch_begin(self, epoch, logs=None):
        self._sums, self._written, self._written_batches = {}, {}, 0

    def on_train_batch_end(self, batch, logs=None):
        logs = logs or {}
        self._step += 1
        if not self.heads:
            self.heads = _heads_in(logs)
            self._open_metrics()
            self._meta("running")
        done = batch + 1  # batches of this epoch so far: Keras' per-head losses are epoch means
        self._sums = {h: float(logs[f"{h}_loss"]) * done for h in self.heads if f"{h}_loss" in logs}
        now = time.monotonic()
        if now - self._last_row >= self.interval:
            self._row(done, now, "running")

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        now = time.monotonic()
        val = {h: float(logs[f"val_{h}_loss"]) for h in self.heads if f"val_{h}_loss" in logs}
        self._row(None, now, "running", val=val)
        self._event("epoch", f"epoch {epoch + 1} ended" + (
            ": " + ", ".join(f"val {h} {v:.4g}" for h, v in val.items()) if val else ""))

    def on_train_end(self, logs=None):
        self._event("finished", f"fit ended at step {self._step}")
        if self._writer is not None:
            self._writer.writerow({"step": self._step, "strategy": self._strategy(), "state": "finished"})
            self._file.flush()
        self._meta("finished")
        for handle in (self._file, self._events):
            if handle is not None:
                handle.close()
        self._file = self._events = self._writer = None

    # --- writing ---------------------------------------------------------------------------

    def _row(self, done: int | None, now: float, state: str, val: dict | None = None) -> None:
        """One metrics row: the mean loss of each head over the steps since the previous row."""
        if self._writer is None:
            return
        batches = (done - self._written_batches) if done is not None else self._step - self._rows_steps
        row: dict[str, Any] = {"step": self._step, "strategy": self._strategy(), "state": state}
        elapsed = now - self._last_row
        steps = self._step - self._rows_steps
        row["steps_per_sec"] = round(steps / elapsed, 3) if elapsed > 0 and steps else ""
        if batches > 0:
            for head in self.heads:
                if head in self._sums:
                    row[f"loss_{head}"] = (self._sums[head] - self._written.get(head, 0.0)) / batches
            self._written, self._written_batches = dict(self._sums), self._written_batches + batches
        for head, value in (val or {}).items():
            row[f"val_loss_{head}"] = value
        rates = getattr(self.model, "rates", None)  # a MultiTaskModel's per-head rates
        if isinstance(rates, dict):
            row.update({f"lr_{key}": value for key, value in rates.items()})
        if batches > 0 or val:
            self._writer.writerow(row)
            self._file.flush()
        self._last_row, self._rows_steps = now, self._step

    def _open_metrics(self) -> None:
        assert self.run_dir is not None
        columns = ["step", "strategy", "state", "steps_per_sec", "lr_trunk"]
        for head in self.heads:
            columns += [f"loss_{head}", f"lr_{head}", f"val_loss_{head}"]
        path = self.run_dir / "metrics.csv"
        fresh = not path.exists() or not path.stat().st_size
        self._file = open(path, "a", newline="", encoding="utf-8")
        self._writer = csv.DictWriter(self._file, fieldnames=columns, extrasaction="ignore")
        if fresh:
            self._writer.writeheader()

    def _event(self, kind: str, text: str) -> None:
        if self._events is not None:
            self._events.write(json.dumps({"step": self._step, "kind": kind, "text": text, "time": time.time()})
                               + "\n")
            self._events.flush()

    def _meta(self, state: str) -> None:
        assert self.run_dir is not None
        meta = {"source": "keras fit", "model": getattr(self.model, "name", ""), "heads": self.heads,
                "strategy": self._strategy(), "state": state, "step": self._step, "time": time.time()}
        atomic_write_text(self.run_dir / LIVE_FILE, json.dumps(meta, indent=1) + "\n")

    def _strategy(self) -> str:
        return getattr(self.model, "strategy_name", None) or "keras fit"


def _last_step(metrics: Path) -> int:
    from tui_mtl.runs.tail import MetricsTail

    if not metrics.is_file():
        return 0
    tail = MetricsTail(metrics.parent)
    tail.poll()
    return tail.series.step


def _heads_in(logs: dict) -> list[str]:
    """Heads from fit's logs: every '<head>_loss' (Keras names per-output losses after the outputs)."""
    return [key[: -len("_loss")] for key in logs if key.endswith("_loss") and not key.startswith("val_")]


def _folder_name(text: str) -> str:
    from tui_mtl.runs.folders import folder_name

    return folder_name(text)
