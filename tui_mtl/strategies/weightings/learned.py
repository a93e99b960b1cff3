"""What `uncertainty` and `imtl_l` share: one learned value per head, trained by the weighting's own
optimizer (at `lr`) on the step's objectives. Subclasses say what the value does to the objective."""

from __future__ import annotations

from typing import ClassVar

import tensorflow as tf

from tui_mtl.strategies.base import Weighting, built_optimizer


class LearnedPerHead(Weighting):
    needs_tape = True
    state_name: ClassVar[str]  # the value's name in checkpoints, for it and its optimizer
    variable_name: ClassVar[str]

    def __init__(self, ctx, params):
        super().__init__(ctx, params)
        self.values = tf.Variable(tf.zeros([ctx.k]), name=self.variable_name)
        self.optimizer = built_optimizer(ctx.make_optimizer, float(params.lr), [self.values])

    def optimizers(self):
        return {self.state_name: self.optimizer}

    def variables(self):
        return {self.state_name: self.values}

    def gradients(self, tape, losses, objectives):
        return [tape.gradient(objectives, self.values)]  # a list of targets: the gradient of their sum

    def apply(self, gradients, losses):
        self.optimizer.apply_gradients([(gradients[0], self.values)])
