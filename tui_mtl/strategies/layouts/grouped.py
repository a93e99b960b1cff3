"""`grouped`: one optimizer per head, at that head's rate, over the trunk and that head.

The TF1 idiom `tf.group(opt1.minimize(L1), opt2.minimize(L2))`: every gradient is taken at the same
parameters, then each optimizer applies its head's row, so the trunk receives the sum of K optimizer
steps and keeps K separate sets of moments (Adam then normalises each loss's scale away).
"""

from __future__ import annotations

import tensorflow as tf

from tui_mtl.strategies import gradmath
from tui_mtl.strategies.base import Layout, built_optimizer


class Grouped(Layout):
    def __init__(self, ctx, params, rates):
        super().__init__(ctx, params, rates)
        self._optimizers = {name: built_optimizer(ctx.make_optimizer, rates[name], self.head_variables(name))
                            for name in ctx.head_names}

    def optimizers(self):
        return self._optimizers

    def apply(self, rows, heads, variant, measure):
        trunk = self.ctx.net.trunk_variables
        steps = []
        for name, row, grads in zip(self.ctx.head_names, rows, heads):
            before = gradmath.flatten(trunk) if measure else None
            self._optimizers[name].apply_gradients(zip([*row, *grads], self.head_variables(name)))
            if measure:  # what this optimizer actually did to the trunk
                steps.append(before - gradmath.flatten(trunk))
        return tf.stack(steps) if measure else None
