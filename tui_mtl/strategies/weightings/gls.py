"""`gls` — the geometric loss strategy (Chennupati et al. 2019): one objective, (prod_i L_i)^(1/K).

Its gradient is sum_i (GLS / (K L_i)) g_i, so each head's effective weight is GLS / (K L_i): heads
are balanced by their relative, not absolute, progress. Per replica the objective of head i is that
weight (from the global losses, held constant) times L_i. The user's weights and scales are not used.
"""

from __future__ import annotations

import tensorflow as tf

from tui_mtl.strategies.base import Weighting

FLOOR = 1e-8


def gls_weights(losses: tf.Tensor) -> tf.Tensor:
    """GLS / (K L_i), GLS = exp(mean_i log L_i)."""
    safe = losses + FLOOR
    gls = tf.exp(tf.reduce_mean(tf.math.log(safe)))
    return gls / (float(losses.shape[0]) * safe)


class GeometricLoss(Weighting):
    def __init__(self, ctx, params):
        super().__init__(ctx, params)
        self.w = tf.Variable(tf.fill([ctx.k], 1.0 / ctx.k), trainable=False, name="gls_effective_weights")

    def variables(self):
        return {"effective_weights": self.w}

    def objectives(self, losses):
        w = tf.stop_gradient(gls_weights(self.ctx.summed(tf.stack(losses))))
        return [w[i] * loss for i, loss in enumerate(losses)]

    def current(self):
        return tf.convert_to_tensor(self.w)

    def apply(self, gradients, losses):
        self.w.assign(gls_weights(tf.stack(losses)))
