"""`summed`: one trunk optimizer (trunk rate) applies the sum of the contributions; each head's
variables have their own optimizer (head rate).

The optimizers cover disjoint variables and every update is elementwise, so with `sum` and equal
rates this is exactly one optimizer over the whole model: Keras `fit` with `loss_weights`.
"""

from __future__ import annotations

import tensorflow as tf

from tui_mtl.strategies.base import Layout, built_optimizer


class Summed(Layout):
    per_head_trunk = False

    def __init__(self, ctx, params, rates):
        super().__init__(ctx, params, rates)
        net = ctx.net
        self._optimizers = {"trunk": built_optimizer(ctx.make_optimizer, rates["trunk"], net.trunk_variables)}
        for name in ctx.head_names:
            self._optimizers[name] = built_optimizer(ctx.make_optimizer, rates[name], net.head_variables[name])

    def optimizers(self):
        return self._optimizers

    def apply(self, rows, heads, variant, measure):
        net = self.ctx.net
        direction = [tf.add_n(list(parts)) if len(parts) > 1 else parts[0] for parts in zip(*rows)]
        if net.trunk_variables:  # a frozen backbone leaves none
            self._optimizers["trunk"].apply_gradients(zip(direction, net.trunk_variables))
        for name, grads in zip(self.ctx.head_names, heads):
            self._optimizers[name].apply_gradients(zip(grads, net.head_variables[name]))
        return None
