"""`imtl_l` — IMTL-L (Liu et al. 2021): a learnable scale s_i per head, objective exp(s_i) L_i - s_i.

Minimising over s_i gives exp(s_i) L_i = 1: every head's scaled loss is pulled to the same value,
whatever its units. The s_i are trained by their own optimizer (at `lr`) on the same objective;
the effective weight is exp(s_i). The user's weights are not used; the scales s_i are.
"""

from __future__ import annotations

import tensorflow as tf

from tui_mtl.strategies.catalog import IMTLLParams
from tui_mtl.strategies.weightings.learned import LearnedPerHead


class IMTLL(LearnedPerHead):
    params: IMTLLParams
    state_name = "log_scales"
    variable_name = "imtl_l_log_scales"

    @property
    def log_scales(self) -> tf.Variable:
        return self.values

    def objectives(self, losses):
        # losses arrive divided by the replica count; so must the -s_i term
        r = self.ctx.replica_scale
        return [tf.exp(self.values[i]) * self.ctx.scales[i] * loss - r * self.values[i]
                for i, loss in enumerate(losses)]

    def current(self):
        return tf.exp(tf.convert_to_tensor(self.values))
