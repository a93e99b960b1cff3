"""`grouped`: one optimizer per head, at that head's rate, over the trunk and that head.

The TF1 idiom `tf.group(opt1.minimize(L1), opt2.minimize(L2))`: every gradient of w_i*s_i*L_i is
taken at the same parameters, then each optimizer applies its own, so the trunk receives the sum of
K optimizer steps and keeps K separate sets of moments (Adam then normalises each loss's scale away).
"""

from __future__ import annotations

import tensorflow as tf

from tui_mtl.strategies.base import UpdateRule, built_optimizer


class Grouped(UpdateRule):
    name = "grouped"

    def __init__(self, ctx, trunk_lr, head_lrs):
        super().__init__(ctx, trunk_lr, head_lrs)
        net = ctx.net
        self.head_optimizers = {
            name: built_optimizer(ctx, head_lrs[name], (*net.trunk_variables, *net.head_variables[name]))
            for name in ctx.head_names
        }

    @property
    def optimizers(self):
        return list(self.head_optimizers.values())

    def set_learning_rates(self, trunk_lr, head_lrs):
        for name, optimizer in self.head_optimizers.items():
            optimizer.learning_rate = head_lrs[name]

    def train_step(self, x, y):
        net = self.ctx.net
        with tf.GradientTape(persistent=True) as tape:
            losses = self.ctx.forward_losses(x, y)
            weighted = self.ctx.weighted(losses)
        updates = []
        for name, objective in zip(self.ctx.head_names, weighted):
            variables = (*net.trunk_variables, *net.head_variables[name])
            updates.append((name, tape.gradient(objective, variables), variables))
        del tape
        # All gradients exist before the first optimizer writes: they are taken at the same parameters.
        for name, grads, variables in updates:
            self.head_optimizers[name].apply_gradients(zip(grads, variables))
        return tf.stack(losses)
