"""`summed`: one backward pass of sum_i w_i*s_i*L_i (what Keras `fit` does with `loss_weights`).

The trunk is moved by one optimizer at the trunk rate; each head's variables by an optimizer at that
head's rate. The optimizers cover disjoint variables and every update is elementwise, so with equal
rates this is exactly one optimizer over the whole model.
"""

from __future__ import annotations

import tensorflow as tf

from tui_mtl.strategies.base import UpdateRule, built_optimizer


class Summed(UpdateRule):
    name = "summed"

    def __init__(self, ctx, trunk_lr, head_lrs):
        super().__init__(ctx, trunk_lr, head_lrs)
        net = ctx.net
        self.trunk_optimizer = built_optimizer(ctx, trunk_lr, net.trunk_variables)
        self.head_optimizers = {name: built_optimizer(ctx, head_lrs[name], net.head_variables[name])
                                for name in ctx.head_names}

    @property
    def optimizers(self):
        return [self.trunk_optimizer, *self.head_optimizers.values()]

    def set_learning_rates(self, trunk_lr, head_lrs):
        self.trunk_optimizer.learning_rate = trunk_lr
        for name, optimizer in self.head_optimizers.items():
            optimizer.learning_rate = head_lrs[name]

    def train_step(self, x, y):
        net = self.ctx.net
        heads = self.ctx.head_names
        with tf.GradientTape() as tape:
            losses = self.ctx.forward_losses(x, y)
            total = tf.add_n(self.ctx.weighted(losses))
        head_vars = [net.head_variables[name] for name in heads]
        grads = tape.gradient(total, [net.trunk_variables, *head_vars])
        self.trunk_optimizer.apply_gradients(zip(grads[0], net.trunk_variables))
        for name, head_grads, variables in zip(heads, grads[1:], head_vars):
            self.head_optimizers[name].apply_gradients(zip(head_grads, variables))
        return tf.stack(losses)
