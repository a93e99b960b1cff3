"""The interfaces of the three strategy components and what they share.

A strategy is a weighting (each head's objective) x an aggregator (per-head trunk gradients to
per-head contributions) x a layout (which optimizers apply them). Components run inside the
session's `tf.function`: only TensorFlow ops and variables, so that rates and weights change
without retracing. Their state is explicit and named (`state()`), so a checkpoint does not depend
on attribute names; the step itself (tape, replica sum, loss scaling, guard, diagnostics) is built
once, in `step.py`, for every combination.
"""

from __future__ import annotations

import zlib

from dataclasses import dataclass
from typing import Any, Callable, NamedTuple

import keras
import numpy as np
import tensorflow as tf

from tui_mtl.model import MultiHeadModel
from tui_mtl.strategies.catalog import Params


@dataclass(frozen=True)
class StepContext:
    """What components may read: the model, each head's loss, the session's variables."""

    net: MultiHeadModel
    loss_fns: dict  # head name -> keras Loss (mean over the batch)
    weights: tf.Variable  # [K] the user's loss weights w_i, in head order
    scales: tf.Variable  # [K] loss scale multipliers s_i
    make_optimizer: Callable[[float], keras.optimizers.Optimizer]
    seed: int = 0
    replica_scale: float = 1.0  # 1 / replicas in sync
    # sums a per-replica value across replicas inside `compute` (identity on one device)
    cross_replica_sum: Callable | None = None
    # global per-head losses at the current parameters, callable from `apply` (FAMO's second pass)
    global_forward: Callable | None = None
    # float16 compute: a loss_scaling.DynamicLossScale the objectives are multiplied by (None otherwise)
    loss_scale: Any = None

    def summed(self, value):
        return value if self.cross_replica_sum is None else self.cross_replica_sum(value)

    def forward_global(self, x, y) -> list:
        if self.global_forward is not None:
            return self.global_forward(x, y)
        return self.forward_losses(x, y)

    @property
    def head_names(self) -> list[str]:
        return self.net.head_names

    @property
    def k(self) -> int:
        return len(self.net.head_names)

    def forward_losses(self, x, y) -> list:
        """Per-head losses L_i on this replica's batch (training mode). Under tf.distribute, Keras losses
        already come divided by the replica count (`replica_scale`), so their sum is the global mean."""
        preds = self.net.model(x, training=True)
        return [self.loss_fns[name](y[name], preds[name]) for name in self.head_names]


def random_stream(ctx: StepContext, component: str) -> tf.random.Generator:
    """A component's own random numbers: the same sequence whichever traced function draws them (one
    step, several fused, a diagnostic step), and its state a variable of the component, so checkpoints,
    forks and reset carry it. `component` gives each its own stream from the session's seed."""
    return tf.random.Generator.from_seed(ctx.seed * 7919 + zlib.crc32(component.encode()))


def built_optimizer(make: Callable, learning_rate: float, variables) -> keras.optimizers.Optimizer:
    # Build outside tf.function: slot variables must exist before the step is traced.
    optimizer = make(learning_rate)
    optimizer.build(list(variables))
    return optimizer


def optimizer_state(prefix: str, optimizers: dict) -> dict:
    """Every optimizer variable, named `prefix/owner/index` (Keras orders them the same way each build)."""
    return {f"{prefix}/{owner}/{i}": v for owner, opt in optimizers.items() for i, v in enumerate(opt.variables)}


class Component:
    """State that a strategy carries across switches, forks, rewinds and checkpoints."""

    def __init__(self, ctx: StepContext, params: Params):
        self.ctx = ctx
        self.params = params

    def optimizers(self) -> dict[str, keras.optimizers.Optimizer]:
        return {}

    def variables(self) -> dict[str, tf.Variable]:
        """The component's own variables, by name, in a fixed order."""
        return {}

    def python_state(self) -> dict:
        """State kept outside TensorFlow (e.g. whose turn it is); round-trips through load_python_state."""
        return {}

    def load_python_state(self, state: dict) -> None:
        pass


class Weighting(Component):
    """Where each head's objective comes from. The default is the user's fixed weights."""

    needs_tape = False  # True when `gradients` takes gradients from the step's tape

    def objectives(self, losses: list) -> list:
        """Per-head objectives (inside the tape, per replica): what each head's gradient is taken of.

        Weights that depend on the losses must come from `ctx.summed(losses)` (the same on every
        replica), and nothing is assigned here: state changes belong in `apply` and `after_step`.
        """
        return [self.ctx.weights[i] * self.ctx.scales[i] * loss for i, loss in enumerate(losses)]

    def current(self) -> tf.Tensor:
        """The effective w_i [K] in force now (for reports and samplers)."""
        return tf.convert_to_tensor(self.ctx.weights)

    def gradients(self, tape, losses: list, objectives: list) -> list:
        """Per-replica gradients for the weighting's own parameters, from the step's tape (summed later)."""
        return []

    def apply(self, gradients: list, losses: list) -> None:
        """Update the weighting's parameters from summed gradients and global losses (applied steps only)."""

    def after_step(self, x, y, losses: list) -> None:
        """Update state once the model has moved (loss windows, a second forward pass, ...)."""


class Aggregation(NamedTuple):
    rows: tf.Tensor  # [K, P] per-head contributions; their sum is the trunk's direction
    # (variable, new value) pairs, assigned only when the step is applied (EMAs, counters)
    updates: tuple = ()


class Aggregator(Component):
    """Per-head trunk gradients G [K, P] -> per-head contributions [K, P] whose sum is the direction."""

    identity = False  # `sum`: the summed layout then needs one backward pass, not K

    @property
    def representation(self) -> bool:
        """True: weigh the heads from gradients with respect to the trunk's output (MGDA-UB)."""
        return False

    def representation_coefficients(self, gram: tf.Tensor, losses: tf.Tensor) -> tf.Tensor:
        """c [K] from the Gram matrix of the heads' gradients with respect to the trunk's output and the
        global losses: the trunk then follows the gradient of sum_i c_i objective_i."""
        raise NotImplementedError

    def contributions(self, G: tf.Tensor) -> tf.Tensor:
        """The rows, for an aggregator without state (most of them)."""
        raise NotImplementedError

    def aggregate(self, G: tf.Tensor, losses: tf.Tensor) -> Aggregation:
        """The rows and the state updates an applied step makes, from G and the global losses [K]
        (aggregators with state or that read the losses override this)."""
        return Aggregation(self.contributions(G))


class Layout(Component):
    """Which optimizers apply the contributions, at which rates."""

    per_head_trunk = True  # each head's own trunk gradient is needed (False: the summed layout)
    one_head = False  # one head per step (alternating)

    def __init__(self, ctx: StepContext, params: Params, rates: dict):
        super().__init__(ctx, params)

    def set_learning_rates(self, rates: dict) -> None:
        for owner, optimizer in self.optimizers().items():
            optimizer.learning_rate = rates[owner]

    def next_variant(self, weights: Callable[[], np.ndarray]) -> int:
        """Which traced variant runs next (alternating: which head); `weights` gives w_i in force."""
        return 0

    def head_variables(self, head: str) -> tuple:
        return (*self.ctx.net.trunk_variables, *self.ctx.net.head_variables[head])

    def apply(self, rows: list, heads: list, variant: int, measure: bool) -> Any:
        """Move the variables: `rows` are the trunk contributions (per head, or one summed row), `heads`
        each head's own gradients; returns each optimizer's measured trunk step [K, P] when `measure`."""
        raise NotImplementedError
