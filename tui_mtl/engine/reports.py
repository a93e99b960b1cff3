"""Immutable reports the engine publishes, and the events (changes) they carry."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from types import MappingProxyType
from typing import Mapping, overload

from tui_mtl.engine.state import State


@overload
def frozen(mapping: Mapping) -> Mapping: ...
@overload
def frozen(mapping: None) -> None: ...
def frozen(mapping: Mapping | None) -> Mapping | None:
    """A read-only copy (reports are immutable and cross threads)."""
    return None if mapping is None else MappingProxyType(dict(mapping))


class EventKind(str, Enum):
    STRATEGY = "strategy"
    LR = "lr"
    WEIGHT = "weight"
    SCALE = "scale"
    PAUSE = "pause"
    RESUME = "resume"
    RESET = "reset"
    REWIND = "rewind"
    FORK = "fork"
    NONFINITE = "nonfinite"
    CHECKPOINT = "checkpoint"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class Event:
    """A change made while training: shown as a marker on the plots and logged."""

    step: int
    kind: str  # an EventKind (a str): strategy, lr, weight, scale, pause, resume, reset, rewind, ...
    text: str


class FaultKind(str, Enum):
    LOSS = "non-finite loss"
    GRADIENT = "non-finite or overflowing gradient"
    FAILED = "step failed"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class Fault:
    """Why the engine stopped itself: a step that could not be applied."""

    kind: FaultKind
    step: int
    summary: str  # what happened and the likely cause, e.g. "step 2: non-finite loss in x, 2 steps after ..."
    advice: str  # what to do about it, in a session (a headless command gives its own)
    heads: tuple[str, ...] = ()  # heads whose loss was not finite (empty: a gradient, or a failed step)
    blamed: str | None = None  # the change that probably caused it, e.g. "x lr=1e+09 at step 3,400"
    rewind_step: int | None = None  # where `rewind` would go

    @property
    def message(self) -> str:
        return f"{self.summary}. {self.advice}"


@dataclass(frozen=True)
class Report:
    step: int
    target_step: int  # the step the current run() ends at
    state: State
    strategy: str
    train_loss: Mapping  # head -> mean raw loss L_i since the previous report (empty if no step ran)
    total_loss: float | None  # sum_i w_i*s_i*L_i over the same steps
    learning_rates: Mapping  # head -> rate, plus "trunk"
    weights: Mapping  # head -> w_i
    steps_per_sec: float
    elapsed: float  # seconds spent training in this session
    val_loss: Mapping | None = None  # set on the report that follows a validation
    val_metric: Mapping | None = None
    events: tuple = field(default_factory=tuple)
    message: str | None = None
    effective_weights: Mapping | None = None  # w_i in force (adaptive weightings move them)
    # on the report after a diagnostic step: {"grad_norm": {head: v}, "update_share": {head: v},
    # "cosine": {"a~b": v}, "conflict_share": v}
    diagnostics: Mapping | None = None
    loss_scale: float | None = None  # the dynamic loss scale under fp16 (None otherwise)
    loss_scales: Mapping | None = None  # head -> s_i (the loss multipliers)
    fault: Fault | None = None  # set while the state is FAULTED
    tracing: bool = False  # the step in progress compiles a new strategy variant (slow, once)
    commands_applied: int = 0  # how many of the session's submitted commands this report reflects

    @property
    def heads(self) -> list[str]:
        return [name for name in self.weights]

    def as_row(self) -> dict:
        """A flat row for CSV/JSONL: one column per head and quantity."""
        row = {"step": self.step, "strategy": self.strategy, "state": str(self.state),
               "steps_per_sec": round(self.steps_per_sec, 3), "total_loss": self.total_loss,
               "lr_trunk": self.learning_rates.get("trunk")}
        for head in self.heads:
            row[f"loss_{head}"] = self.train_loss.get(head)
            row[f"lr_{head}"] = self.learning_rates[head]
            row[f"weight_{head}"] = self.weights[head]
            row[f"val_loss_{head}"] = self.val_loss.get(head) if self.val_loss else None
            row[f"val_metric_{head}"] = self.val_metric.get(head) if self.val_metric else None
            row[f"effective_weight_{head}"] = self.effective_weights.get(head) if self.effective_weights else None
        diag = self.diagnostics or {}
        for head in self.heads:
            row[f"grad_norm_{head}"] = diag.get("grad_norm", {}).get(head)
            row[f"update_share_{head}"] = diag.get("update_share", {}).get(head)
        heads = self.heads
        for i, a in enumerate(heads):
            for b in heads[i + 1:]:
                row[f"cosine_{a}~{b}"] = diag.get("cosine", {}).get(f"{a}~{b}")
        row["conflict_share"] = diag.get("conflict_share")
        if self.loss_scale is not None:
            row["loss_scale"] = self.loss_scale
        return row
