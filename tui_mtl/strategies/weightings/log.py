"""`log` — each head's objective is w_i log L_i (the loss balancing of DB-MTL, Lin et al. 2023).

Its gradient is w_i g_i / L_i: a loss 1000x larger pulls no harder. Per replica the objective is
w_i L_i / L_i(global), with L_i(global) held constant, which has the same gradient and sums across
replicas correctly. The loss scales s_i cancel in a logarithm, so they are not applied.
"""

from __future__ import annotations

import tensorflow as tf

from tui_mtl.strategies.base import Weighting

FLOOR = 1e-8


def log_weights(user: tf.Tensor, losses: tf.Tensor) -> tf.Tensor:
    """The effective weights w_i / L_i."""
    return user / (losses + FLOOR)


class LogLoss(Weighting):
    def __init__(self, ctx, params):
        super().__init__(ctx, params)
        self.w = tf.Variable(tf.ones([ctx.k]), trainable=False, name="log_effective_weights")

    def variables(self):
        return {"effective_weights": self.w}

    def objectives(self, losses):
        w = tf.stop_gradient(log_weights(tf.convert_to_tensor(self.ctx.weights), self.ctx.summed(tf.stack(losses))))
        return [w[i] * loss for i, loss in enumerate(losses)]

    def current(self):
        return tf.convert_to_tensor(self.w)

    def apply(self, gradients, losses):
        self.w.assign(log_weights(tf.convert_to_tensor(self.ctx.weights), tf.stack(losses)))
