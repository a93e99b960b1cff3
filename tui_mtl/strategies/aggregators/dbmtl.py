"""`dbmtl` — the gradient half of DB-MTL (Lin et al. 2023): an EMA of each head's trunk gradient, each
scaled to the largest one's norm. With the `log` weighting (objectives log L_i, the paper's loss
balancing) it is DB-MTL: `dbmtl+log`.

buffer_i <- g_i + beta / t^sigma (buffer_i - g_i) at step t; rows max_j |buffer_j| / |buffer_i| buffer_i.
The buffers ([K, P]: one copy of the trunk per head) are state: checkpointed, forked, rewound.
"""

from __future__ import annotations

import math

import tensorflow as tf

from tui_mtl.strategies.base import Aggregation, Aggregator
from tui_mtl.strategies.catalog import DBMTLParams


class DBMTL(Aggregator):
    params: DBMTLParams

    def __init__(self, ctx, params):
        super().__init__(ctx, params)
        size = sum(math.prod(v.shape) for v in ctx.net.trunk_variables)
        self.buffers = tf.Variable(tf.zeros([ctx.k, size]), trainable=False, name="dbmtl_buffers")
        self.steps = tf.Variable(0.0, trainable=False, name="dbmtl_steps")

    def variables(self):
        return {"buffers": self.buffers, "steps": self.steps}

    def aggregate(self, G, losses):
        step = self.steps + 1.0
        decay = float(self.params.beta) / tf.pow(step, float(self.params.sigma))
        buffers = G + decay * (tf.convert_to_tensor(self.buffers) - G)
        norms = tf.norm(buffers, axis=1)
        rows = (tf.reduce_max(norms) / (norms + 1e-8))[:, None] * buffers
        return Aggregation(rows, ((self.buffers, buffers), (self.steps, step)))
