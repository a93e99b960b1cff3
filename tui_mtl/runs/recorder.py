"""A run folder: what a session did, written as it happens, readable by people and TensorBoard.

    preset.toml      the preset as started
    events.jsonl     every change (strategy, rate, weight, pause, fork, checkpoint), append-only
    metrics.csv      one row per report
    train/, validation/   TensorBoard event files (`tensorboard --logdir RUN`)
    checkpoint.npz   the latest checkpoint (on request, every N steps, at the end), atomic
    stderr.log       native logging, while the terminal app is up
"""

from __future__ import annotations

import csv
import json
import time
from pathlib import Path

from tui_mtl.engine import checkpoint
from tui_mtl.fileio import atomic_write_text

CHECKPOINT = "checkpoint.npz"


class EventWriter:
    """TensorBoard event files written from Python protos (as PyTorch's SummaryWriter does).

    tf.summary's eager ops grew the process by ~13 KB per report here (benchmarks/soak_ui.py); these
    protos cost nothing that lasts, and need no TensorFlow on the training thread.
    """

    def __init__(self, folder: Path):
        from tensorboard.summary.writer.event_file_writer import EventFileWriter

        self._writer = EventFileWriter(str(folder), flush_secs=10)

    def scalars(self, step: int, values: dict) -> None:
        from tensorboard.compat.proto.summary_pb2 import Summary

        summary = Summary(value=[Summary.Value(tag=tag, simple_value=float(value)) for tag, value in values.items()])
        self._add(step, summary)

    def text(self, step: int, tag: str, text: str) -> None:
        from tensorboard.compat.proto.summary_pb2 import Summary, SummaryMetadata
        from tensorboard.compat.proto.tensor_pb2 import TensorProto
        from tensorboard.compat.proto.tensor_shape_pb2 import TensorShapeProto
        from tensorboard.plugins.text.plugin_data_pb2 import TextPluginData

        metadata = SummaryMetadata(plugin_data=SummaryMetadata.PluginData(
            plugin_name="text", content=TextPluginData(version=0).SerializeToString()))
        tensor = TensorProto(dtype="DT_STRING", string_val=[text.encode("utf-8")],
                             tensor_shape=TensorShapeProto(dim=[TensorShapeProto.Dim(size=1)]))
        self._add(step, Summary(value=[Summary.Value(tag=tag, metadata=metadata, tensor=tensor)]))

    def _add(self, step: int, summary) -> None:
        from tensorboard.compat.proto.event_pb2 import Event

        self._writer.add_event(Event(step=step, wall_time=time.time(), summary=summary))

    def close(self) -> None:
        self._writer.close()


class RunRecorder:
    def __init__(self, run_dir: str | Path, session, *, checkpoint_every: int | None = None,
                 tensorboard: bool = True):
        self.run_dir = Path(run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.session = session
        self.checkpoint_every = checkpoint_every
        self._next_checkpoint = (session.step_count // checkpoint_every + 1) * checkpoint_every \
            if checkpoint_every else None
        preset_file = self.run_dir / "preset.toml"
        if not preset_file.exists():  # a resumed run keeps the preset it started with
            atomic_write_text(preset_file, session.preset.to_toml())
        self._events = open(self.run_dir / "events.jsonl", "a", encoding="utf-8")
        metrics = self.run_dir / "metrics.csv"
        self._csv_header = None
        if metrics.exists() and metrics.stat().st_size:
            with open(metrics, newline="", encoding="utf-8") as handle:
                self._csv_header = next(csv.reader(handle), None)
        self._metrics = open(metrics, "a", newline="", encoding="utf-8")
        self._writer = None
        self._writers = self._open_tensorboard() if tensorboard else None
        self._unsubscribe = session.subscribe(self)

    @property
    def checkpoint_path(self) -> Path:
        return self.run_dir / CHECKPOINT

    def _open_tensorboard(self) -> dict:
        return {kind: EventWriter(self.run_dir / kind) for kind in ("train", "validation")}

    def __call__(self, report) -> None:
        for event in report.events:
            self._events.write(json.dumps({"step": event.step, "kind": event.kind, "text": event.text,
                                           "time": time.time()}) + "\n")
        self._events.flush()
        if report.state == "running" or report.val_loss is not None or report.diagnostics:
            self._write_metrics(report)
            if self._writers:
                self._write_tensorboard(report)
        if self._next_checkpoint is not None and report.step >= self._next_checkpoint:
            self.save_checkpoint()
            self._next_checkpoint = (report.step // self.checkpoint_every + 1) * self.checkpoint_every

    def _write_metrics(self, report) -> None:
        row = report.as_row()
        if self._writer is None:
            header = self._csv_header or list(row)
            self._writer = csv.DictWriter(self._metrics, fieldnames=header, extrasaction="ignore")
            if self._csv_header is None:
                self._writer.writeheader()
        self._writer.writerow({k: "" if v is None else v for k, v in row.items()})
        self._metrics.flush()

    def _write_tensorboard(self, report) -> None:
        train, validation = self._writers["train"], self._writers["validation"]
        scalars = {f"loss/{head}": value for head, value in report.train_loss.items()}
        scalars.update({f"learning_rate/{head}": value for head, value in report.learning_rates.items()})
        weights = report.effective_weights or report.weights
        scalars.update({f"weight/{head}": value for head, value in weights.items()})
        if report.total_loss is not None:
            scalars["total_loss"] = report.total_loss
        scalars["steps_per_sec"] = report.steps_per_sec
        if report.loss_scale is not None:
            scalars["loss_scale"] = report.loss_scale
        diag = report.diagnostics or {}
        for kind in ("grad_norm", "update_share", "cosine"):
            scalars.update({f"diagnostics/{kind}/{key}": value for key, value in diag.get(kind, {}).items()})
        if "conflict_share" in diag:
            scalars["diagnostics/conflict_share"] = diag["conflict_share"]
        train.scalars(report.step, scalars)
        for event in report.events:
            train.text(report.step, "events", f"step {event.step}: {event.kind}: {event.text}")
        if report.val_loss is not None:
            values = {f"loss/{head}": value for head, value in report.val_loss.items()}
            values.update({f"metric/{head}": value for head, value in (report.val_metric or {}).items()})
            validation.scalars(report.step, values)

    def save_checkpoint(self) -> Path:
        """Write the checkpoint now: call at a step boundary (from a report, or when not training)."""
        return checkpoint.save(self.session, self.checkpoint_path)

    def close(self, *, final_checkpoint: bool = True) -> None:
        self._unsubscribe()
        if final_checkpoint:
            self.save_checkpoint()
        self._events.close()
        self._metrics.close()
        if self._writers:
            for writer in self._writers.values():
                writer.close()
