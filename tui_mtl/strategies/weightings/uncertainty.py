"""Uncertainty weighting (Kendall et al. 2018): a learnable log-variance s_i per head.

Objective per head: 1/2 (exp(-s_i) L_i + s_i); the effective weight is 1/2 exp(-s_i). The s_i are
trained by their own optimizer (at `lr`) on the same objective. The user's weights are not used.
"""

from __future__ import annotations

import tensorflow as tf

from tui_mtl.strategies.catalog import UncertaintyParams
from tui_mtl.strategies.weightings.learned import LearnedPerHead


class Uncertainty(LearnedPerHead):
    params: UncertaintyParams
    state_name = "log_vars"
    variable_name = "uncertainty_log_vars"

    @property
    def log_vars(self) -> tf.Variable:
        return self.values

    def objectives(self, losses):
        # losses arrive divided by the replica count; so must the s_i term, for the sum to be right
        r = self.ctx.replica_scale
        return [0.5 * (tf.exp(-self.values[i]) * self.ctx.scales[i] * loss + r * self.values[i])
                for i, loss in enumerate(losses)]

    def current(self):
        return 0.5 * tf.exp(-tf.convert_to_tensor(self.values))
