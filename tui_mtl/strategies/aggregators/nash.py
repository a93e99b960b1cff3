"""`nash` — Nash-MTL (Navon et al. 2022): the bargaining solution. alpha > 0 with (G G^T) alpha = 1/alpha
elementwise, d = G^T alpha: each head's share d . g_i = 1/alpha_i, so no head can gain without another
losing more, whatever the gradients' scales. Solved on the Gram matrix by Newton's method
(`gradmath.power_balance`, where the paper uses CCP iterations of a convex program).

`update_every` N > 1 is the paper's cheaper variant: alpha is solved every N steps and reused between
(kept as state: checkpointed, forked, rewound). The rows are alpha_i g_i, the paper's scale.
"""

from __future__ import annotations

import tensorflow as tf

from tui_mtl.strategies import gradmath
from tui_mtl.strategies.base import Aggregation, Aggregator
from tui_mtl.strategies.catalog import NashParams


class NashMTL(Aggregator):
    params: NashParams

    def __init__(self, ctx, params):
        super().__init__(ctx, params)
        self.alpha = tf.Variable(tf.ones([ctx.k]), trainable=False, name="nash_alpha")
        self.steps = tf.Variable(0, dtype=tf.int64, trainable=False, name="nash_steps")

    def variables(self):
        return {"alpha": self.alpha, "steps": self.steps}

    def aggregate(self, G, losses):
        every = int(self.params.update_every)
        if every <= 1:
            alpha = gradmath.power_balance(gradmath.finite_gram(G), 1.0)
            return Aggregation(alpha[:, None] * G)
        solve = tf.equal(self.steps % every, 0)
        alpha = tf.cond(solve, lambda: gradmath.power_balance(gradmath.finite_gram(G), 1.0),
                        lambda: tf.convert_to_tensor(self.alpha))
        return Aggregation(alpha[:, None] * G, ((self.alpha, alpha), (self.steps, self.steps + 1)))
