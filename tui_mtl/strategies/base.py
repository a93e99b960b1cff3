"""The interface every update rule implements, and the pieces they share.

An update rule owns its optimizers (so switching away and back resumes their state) and performs
one training step on a batch. `train_step` runs inside the Session's `tf.function`: it must only use
TensorFlow ops and variables, so that rates and weights change without retracing.
"""

from __future__ import annotations

from dataclasses import dataclass

import keras
import tensorflow as tf

from tui_mtl.model import MultiHeadModel


@dataclass(frozen=True)
class StepContext:
    """What a rule may read: the model, each head's loss, and the session's weight variables."""

    net: MultiHeadModel
    loss_fns: dict  # head name -> keras Loss (mean over the batch)
    weights: tf.Variable  # [K] loss weights w_i, in head order
    scales: tf.Variable  # [K] loss scale multipliers s_i
    make_optimizer: object  # callable(learning_rate) -> a fresh Keras optimizer

    @property
    def head_names(self) -> list[str]:
        return self.net.head_names

    def forward_losses(self, x, y) -> list:
        """Raw per-head losses L_i at the current parameters (training mode)."""
        preds = self.net.model(x, training=True)
        return [self.loss_fns[name](y[name], preds[name]) for name in self.head_names]

    def weighted(self, losses: list) -> list:
        """w_i * s_i * L_i: what each head contributes to the objective."""
        return [self.weights[i] * self.scales[i] * loss for i, loss in enumerate(losses)]


def built_optimizer(ctx: StepContext, learning_rate: float, variables) -> keras.optimizers.Optimizer:
    # Build outside tf.function: slot variables must exist before the step is traced.
    optimizer = ctx.make_optimizer(learning_rate)
    optimizer.build(list(variables))
    return optimizer


class UpdateRule:
    """One way of moving the trunk and heads given the per-head losses."""

    name = "base"

    def __init__(self, ctx: StepContext, trunk_lr: float, head_lrs: dict):
        self.ctx = ctx

    def set_learning_rates(self, trunk_lr: float, head_lrs: dict) -> None:
        raise NotImplementedError

    def train_step(self, x, y):
        """Update the variables; return the raw per-head losses [K] at the parameters before the step."""
        raise NotImplementedError

    @property
    def optimizers(self) -> list:
        raise NotImplementedError

    def reset_state(self) -> None:
        """Zero every optimizer slot and step counter (a restart from fresh weights)."""
        for optimizer in self.optimizers:
            for variable in optimizer.variables:
                variable.assign(tf.zeros_like(variable))
