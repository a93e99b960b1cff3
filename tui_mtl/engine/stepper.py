"""The small typed Protocol between the TF-free controller and the TensorFlow side.

A Stepper owns the model, the data, one traced step per strategy variant, validation and every
variable of the training state. It knows nothing of commands, reports, history or threads: the
Session (controller) calls it from its training thread only. `tui_mtl.engine.tf.stepper.TFStepper`
is the real one; tests of the UI use a small fake.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Protocol

from tui_mtl.errors import TuiMtlError


class StepFailure(TuiMtlError):
    """A step raised inside TensorFlow (e.g. a solver on a degenerate matrix): nothing was applied."""


class DeviceMemoryError(TuiMtlError):
    """The device ran out of memory; the message says what to make smaller."""


@dataclass(frozen=True)
class StepOutcome:
    applied: bool
    overflow: bool = False  # skipped only because fp16 gradients overflowed: the loss scale was halved
    losses: tuple[float, ...] | None = None  # per head, read when the step was not applied
    faulty: tuple[bool, ...] | None = None  # per head, on a step not applied: its loss or gradients not finite
    diagnostics: Mapping | None = None  # named (see Report.diagnostics), on applied diagnostic steps
    traced: bool = False  # this call compiled a new variant (its time says nothing about speed)


@dataclass(frozen=True)
class StepperState:
    """Everything needed to continue exactly: named arrays, the strategies' Python state, the
    dynamic loss scale and the batch stream's position. Snapshots, forks and checkpoints use it."""

    arrays: dict[str, Any]  # name -> numpy array
    python: dict[str, dict] = field(default_factory=dict)  # strategy -> its Python state
    strategies: tuple[str, ...] = ()  # built strategies, in build order
    loss_scale: tuple[float, int] | None = None  # (scale, clean steps) under fp16
    batches_drawn: int = 0

    @property
    def nbytes(self) -> int:
        return sum(int(getattr(a, "nbytes", 0)) for a in self.arrays.values())


class Stepper(Protocol):
    head_names: list[str]
    mixed_precision: str
    batches_drawn: int

    @property
    def replicas(self) -> int: ...

    @property
    def trace_counts(self) -> Mapping[str, int]:
        """strategy -> traces so far"""

    def use_strategy(self, name: str) -> None:
        """Make `name` (canonical) the strategy steps run under; builds it on first use."""

    def set_learning_rates(self, rates: Mapping[str, float]) -> None: ...

    def set_weights(self, weights: Mapping[str, float]) -> None: ...

    def set_loss_scales(self, scales: Mapping[str, float]) -> None: ...

    def will_trace(self, diagnose: bool) -> bool:
        """Whether the next step compiles a new variant (seconds, once)."""

    def step(self, batch: Any = None, diagnose: bool = False) -> StepOutcome:
        """One step on `batch`, or on the next batch of the stepper's own stream. Raises StepFailure
        or DeviceMemoryError; never applies a step with a non-finite value."""

    def fusable(self) -> bool:
        """Whether `steps` can run several steps of the current strategy in one call."""

    def will_trace_fused(self) -> bool:
        """Whether the next `steps` call compiles (seconds; a strategy used again after others may retrace)."""

    def steps(self, count: int) -> tuple[int, StepOutcome]:
        """Up to `count` plain steps (no diagnostics) on the own stream in one call; stops after the
        first step not applied. Returns the steps run (that one included) and the last outcome."""

    def next_batch(self) -> Any:
        """Draw the next batch of the stream (a comparison shares it between branches)."""

    def validate(self) -> tuple[dict[str, float], dict[str, float]]: ...

    def take_train_means(self) -> dict[str, float] | None:
        """Mean per-head loss of the applied steps since the last call (None if none)."""

    def effective_weights(self) -> dict[str, float]: ...

    def loss_scale(self) -> float | None: ...

    def capture(self) -> StepperState: ...

    def restore(self, state: StepperState, *, stream: bool = True) -> None:
        """Load a captured state (builds any strategy it holds that is not built yet); `stream`:
        also continue the batch stream where the state was (a rewind draws new batches instead)."""

    def skip_to_batch(self, count: int) -> None:
        """Continue the batch stream at batch `count` (it is deterministic for its seed)."""

    def reset(self) -> None:
        """Initial weights, every strategy's state as built, the batch stream from its start."""

    def state_names(self, strategies: list[str]) -> list[str]:
        """The names of `capture().arrays` with these strategies built, in their fixed order."""

    def spawn(self, device: str | None = None) -> "Stepper":
        """A new stepper on the same data (a fork's branch; state copied with restore), on `device`
        when given, else on the same devices."""

    def state_bytes(self) -> int: ...

    def close(self) -> None: ...
