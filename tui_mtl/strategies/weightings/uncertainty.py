"""Uncertainty weighting (Kendall et al. 2018): a learnable log-variance s_i per head.

Objective per head: 1/2 (exp(-s_i) L_i + s_i); the effective weight is 1/2 exp(-s_i). The s_i are
trained by their own optimizer (at `lr`) on the same objective. The user's weights are not used.
"""

from __future__ import annotations

import tensorflow as tf

from tui_mtl.strategies.base import Weighting, built_optimizer
from tui_mtl.strategies.catalog import UncertaintyParams


class Uncertainty(Weighting):
    params: UncertaintyParams

    needs_tape = True

    def __init__(self, ctx, params):
        super().__init__(ctx, params)
        self.log_vars = tf.Variable(tf.zeros([ctx.k]), name="uncertainty_log_vars")
        self.optimizer = built_optimizer(ctx.make_optimizer, float(params.lr), [self.log_vars])

    def optimizers(self):
        return {"log_vars": self.optimizer}

    def variables(self):
        return {"log_vars": self.log_vars}

    def objectives(self, losses):
        # losses arrive divided by the replica count; so must the s_i term, for the sum to be right
        r = self.ctx.replica_scale
        return [0.5 * (tf.exp(-self.log_vars[i]) * self.ctx.scales[i] * loss + r * self.log_vars[i])
                for i, loss in enumerate(losses)]

    def current(self):
        return 0.5 * tf.exp(-tf.convert_to_tensor(self.log_vars))

    def gradients(self, tape, losses, objectives):
        return [tape.gradient(objectives, self.log_vars)]  # a list of targets: the gradient of their sum

    def apply(self, gradients, losses):
        self.optimizer.apply_gradients([(gradients[0], self.log_vars)])
