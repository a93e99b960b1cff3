"""`imtl_l` — IMTL-L (Liu et al. 2021): a learnable scale s_i per head, objective exp(s_i) L_i - s_i.

Minimising over s_i gives exp(s_i) L_i = 1: every head's scaled loss is pulled to the same value,
whatever its units. The s_i are trained by their own optimizer (at `lr`) on the same objective;
the effective weight is exp(s_i). The user's weights are not used; the scales s_i are.
"""

from __future__ import annotations

import tensorflow as tf

from tui_mtl.strategies.base import Weighting, built_optimizer
from tui_mtl.strategies.catalog import IMTLLParams


class IMTLL(Weighting):
    params: IMTLLParams

    needs_tape = True

    def __init__(self, ctx, params):
        super().__init__(ctx, params)
        self.log_scales = tf.Variable(tf.zeros([ctx.k]), name="imtl_l_log_scales")
        self.optimizer = built_optimizer(ctx.make_optimizer, float(params.lr), [self.log_scales])

    def optimizers(self):
        return {"log_scales": self.optimizer}

    def variables(self):
        return {"log_scales": self.log_scales}

    def objectives(self, losses):
        # losses arrive divided by the replica count; so must the -s_i term
        r = self.ctx.replica_scale
        return [tf.exp(self.log_scales[i]) * self.ctx.scales[i] * loss - r * self.log_scales[i]
                for i, loss in enumerate(losses)]

    def current(self):
        return tf.exp(tf.convert_to_tensor(self.log_scales))

    def gradients(self, tape, losses, objectives):
        return [tape.gradient(objectives, self.log_scales)]

    def apply(self, gradients, losses):
        self.optimizer.apply_gradients([(gradients[0], self.log_scales)])
