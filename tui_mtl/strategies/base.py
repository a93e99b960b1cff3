"""The interfaces every update rule and weighting implement, and the pieces they share.

A strategy is an update rule (how the trunk moves) combined with a weighting (where each head's
w_i comes from). A rule owns its optimizers and its weighting, so switching away and back resumes
their state. Both run inside the Session's `tf.function`: only TensorFlow ops and variables, so
that rates and weights change without retracing.

A step has two phases, so that the same code runs on one device and under `tf.distribute`:
`compute` (once per replica: forward pass and gradients, returned as a "plan" of tensors that the
Session sums across replicas) and `apply` (once, on the summed plan: combine, guard against
non-finite values, move the variables). Per-replica losses are pre-divided by the replica count
(`ctx.replica_scale`), so summed plans hold global means and global gradients.
"""

from __future__ import annotations

from dataclasses import dataclass

import keras
import tensorflow as tf

from tui_mtl.errors import CommandError
from tui_mtl.model import MultiHeadModel
from tui_mtl.strategies import gradmath


@dataclass(frozen=True)
class StepContext:
    """What rules and weightings may read: the model, each head's loss, the session's variables."""

    net: MultiHeadModel
    loss_fns: dict  # head name -> keras Loss (mean over the batch)
    weights: tf.Variable  # [K] the user's loss weights w_i, in head order
    scales: tf.Variable  # [K] loss scale multipliers s_i
    make_optimizer: object  # callable(learning_rate) -> a fresh Keras optimizer
    seed: int = 0
    replica_scale: float = 1.0  # 1 / replicas in sync
    # sums a per-replica value across replicas inside `compute` (identity on one device)
    cross_replica_sum: object = None
    # global per-head losses at the current parameters, callable from `apply` (FAMO's second pass)
    global_forward: object = None
    # float16 compute: a loss_scaling.DynamicLossScale the objectives are multiplied by (None otherwise)
    loss_scale: object = None

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


def built_optimizer(make, learning_rate: float, variables) -> keras.optimizers.Optimizer:
    # Build outside tf.function: slot variables must exist before the step is traced.
    optimizer = make(learning_rate)
    optimizer.build(list(variables))
    return optimizer


def take_params(cls, params: dict) -> dict:
    """The class's DEFAULTS overridden by the keys of `params` it knows."""
    return {key: params.get(key, default) for key, default in cls.DEFAULTS.items()}


def zero_optimizers(optimizers) -> None:
    for optimizer in optimizers:
        for variable in optimizer.variables:
            variable.assign(tf.zeros_like(variable))


class Weighting:
    """Where w_i comes from. The default is the user's fixed weights."""

    name = "fixed"
    DEFAULTS: dict = {}
    needs_tape = False  # True when `gradients` takes gradients from the rule's tape

    def __init__(self, ctx: StepContext, params: dict):
        self.ctx = ctx
        self.params = take_params(type(self), params)

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
        """Per-replica gradients for the weighting's own parameters, from the rule's tape (summed later)."""
        return []

    def apply(self, gradients: list, losses: list) -> None:
        """Update the weighting's own parameters from summed gradients and global losses; runs only
        when the step is applied (all finite)."""

    def after_step(self, x, y, losses: list) -> None:
        """Update state once the model has moved (loss windows, a second forward pass, ...)."""

    @property
    def optimizers(self) -> list:
        return []

    def state_variables(self) -> list:
        """Every variable that is this weighting's state, in a fixed order (for forks and checkpoints)."""
        own = [value for _key, value in sorted(vars(self).items()) if isinstance(value, tf.Variable)]
        return [v for opt in self.optimizers for v in opt.variables] + own

    def reset_state(self) -> None:
        zero_optimizers(self.optimizers)


class UpdateRule:
    """One way of moving the trunk and heads given the per-head objectives."""

    name = "base"
    DEFAULTS: dict = {}

    def __init__(self, ctx: StepContext, trunk_lr: float, head_lrs: dict, weighting: Weighting, params: dict):
        self.ctx = ctx
        self.weighting = weighting
        self.params = take_params(type(self), params)

    def set_learning_rates(self, trunk_lr: float, head_lrs: dict) -> None:
        raise NotImplementedError

    def objectives(self, losses: list) -> list:
        """What each head's gradient is taken of (inside the tape): the weighting's objectives, times
        the loss scale under float16 (the Session divides the plan's gradients by it)."""
        objectives = self.weighting.objectives(losses)
        scale = self.ctx.loss_scale
        return objectives if scale is None else scale.scale_objectives(objectives)

    def compute(self, x, y, variant: int, diagnose: bool) -> dict:
        """Per replica: a plan {"losses": [K], ..., "weighting": [...]} of tensors only (no None)."""
        raise NotImplementedError

    def apply(self, x, y, plan: dict, variant: int, diagnose: bool):
        """Once, on the plan summed over replicas: move the variables; returns (diagnostics, applied).

        A step whose losses or gradients are not all finite is not applied (see `commit`).
        """
        raise NotImplementedError

    def commit(self, x, y, losses: list, checks: list, apply_model, weighting_grads: list, skipped_result=None):
        """Apply the step only if every loss and gradient is finite: the last good weights survive a NaN.

        `apply_model()` moves the model; when `skipped_result` is given, it returns a tensor of that
        shape, for which `skipped_result` stands in when the step is skipped. Returns (applied, result).
        """
        tensors = [*losses, *checks, *weighting_grads]
        finite = tf.reduce_all(tf.stack([tf.reduce_all(tf.math.is_finite(t)) for t in tensors]))
        fallback = tf.constant(0.0) if skipped_result is None else skipped_result

        def apply():
            result = apply_model()
            self.weighting.apply(weighting_grads, losses)
            self.weighting.after_step(x, y, losses)
            return tf.constant(True), (fallback if skipped_result is None else result)

        return tf.cond(finite, apply, lambda: (tf.constant(False), fallback))

    def next_variant(self) -> int:
        """Which traced variant runs next (alternating picks a head); most rules have one."""
        return 0

    @property
    def optimizers(self) -> list:
        raise NotImplementedError

    def state_variables(self) -> list:
        """Every variable of this rule's state, in a fixed order (for forks and checkpoints)."""
        return [v for opt in self.optimizers for v in opt.variables] + self.weighting.state_variables()

    def python_state(self) -> dict:
        """State kept outside TensorFlow (e.g. whose turn it is); must round-trip through load_python_state."""
        return {}

    def load_python_state(self, state: dict) -> None:
        pass

    def reset_state(self) -> None:
        """Zero every optimizer slot and step counter (a restart from fresh weights)."""
        zero_optimizers(self.optimizers)
        self.weighting.reset_state()


class TrunkAndHeadOptimizers(UpdateRule):
    """Rules with one optimizer for the trunk (trunk rate) and one per head (head rate)."""

    def __init__(self, ctx, trunk_lr, head_lrs, weighting, params):
        super().__init__(ctx, trunk_lr, head_lrs, weighting, params)
        net = ctx.net
        self.trunk_optimizer = built_optimizer(ctx.make_optimizer, trunk_lr, net.trunk_variables)
        self.head_optimizers = {name: built_optimizer(ctx.make_optimizer, head_lrs[name], net.head_variables[name])
                                for name in ctx.head_names}

    @property
    def optimizers(self):
        return [self.trunk_optimizer, *self.head_optimizers.values()]

    def set_learning_rates(self, trunk_lr, head_lrs):
        self.trunk_optimizer.learning_rate = trunk_lr
        for name, optimizer in self.head_optimizers.items():
            optimizer.learning_rate = head_lrs[name]

    def apply_heads(self, head_grads: list) -> None:
        for name, grads in zip(self.ctx.head_names, head_grads):
            self.head_optimizers[name].apply_gradients(zip(grads, self.ctx.net.head_variables[name]))


class PerHeadOptimizers(UpdateRule):
    """Rules with one optimizer per head, at that head's rate, over the trunk and that head."""

    def __init__(self, ctx, trunk_lr, head_lrs, weighting, params):
        super().__init__(ctx, trunk_lr, head_lrs, weighting, params)
        self.head_optimizers = {
            name: built_optimizer(ctx.make_optimizer, head_lrs[name], self.variables_of(name))
            for name in ctx.head_names
        }

    def variables_of(self, head: str) -> tuple:
        return (*self.ctx.net.trunk_variables, *self.ctx.net.head_variables[head])

    @property
    def optimizers(self):
        return list(self.head_optimizers.values())

    def set_learning_rates(self, trunk_lr, head_lrs):
        for name, optimizer in self.head_optimizers.items():
            optimizer.learning_rate = head_lrs[name]


class GradientSurgery(TrunkAndHeadOptimizers):
    """Rules that combine the per-head trunk gradients G [K, P] into one trunk gradient.

    Heads get the gradient of their own objective; the trunk optimizer gets `combine(G)`, computed
    on the gradients summed over replicas. Subclasses implement only `combine`.
    """

    def combine(self, G: tf.Tensor) -> tf.Tensor:
        raise NotImplementedError

    def compute(self, x, y, variant, diagnose):
        net, ctx = self.ctx.net, self.ctx
        with tf.GradientTape(persistent=True) as tape:
            losses = ctx.forward_losses(x, y)
            objectives = self.objectives(losses)
        n = len(net.trunk_variables)
        trunk, heads = [], []
        for name, objective in zip(ctx.head_names, objectives):
            grads = tape.gradient(objective, [*net.trunk_variables, *net.head_variables[name]])
            trunk.append(gradmath.flatten(grads[:n]))
            heads.append(list(grads[n:]))
        plan = {"losses": losses, "trunk": tf.stack(trunk), "heads": heads,
                "weighting": self.weighting.gradients(tape, losses, objectives)}
        del tape
        return plan

    def apply(self, x, y, plan, variant, diagnose):
        net = self.ctx.net
        G = plan["trunk"]
        direction = self.combine(G)

        def apply_model():
            self.trunk_optimizer.apply_gradients(zip(gradmath.unflatten(direction, net.trunk_variables),
                                                     net.trunk_variables))
            self.apply_heads(plan["heads"])

        checks = [direction, *(g for grads in plan["heads"] for g in grads)]
        applied, _ = self.commit(x, y, plan["losses"], checks, apply_model, plan["weighting"])
        return (gradmath.diagnostics(G, direction) if diagnose else {}), applied


def check_choice(value, choices: tuple, what: str) -> None:
    if value not in choices:
        raise CommandError(f"{what}: {value!r} is not one of {', '.join(map(str, choices))}")
