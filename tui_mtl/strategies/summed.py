"""`summed`: one backward pass of sum_i w_i*s_i*L_i (what Keras `fit` does with `loss_weights`).

The trunk is moved by one optimizer at the trunk rate; each head's variables by an optimizer at that
head's rate. The optimizers cover disjoint variables and every update is elementwise, so with equal
rates this is exactly one optimizer over the whole model.
"""

from __future__ import annotations

import tensorflow as tf

from tui_mtl.strategies import gradmath
from tui_mtl.strategies.base import TrunkAndHeadOptimizers


class Summed(TrunkAndHeadOptimizers):
    name = "summed"

    def train_step(self, x, y, variant, diagnose):
        net, ctx = self.ctx.net, self.ctx
        # The per-head gradients cost K more backward passes: only on diagnostic steps.
        with tf.GradientTape(persistent=diagnose or self.weighting.needs_tape) as tape:
            losses = ctx.forward_losses(x, y)
            objectives = self.weighting.objectives(losses)
            total = tf.add_n(objectives)
        head_vars = [net.head_variables[name] for name in ctx.head_names]
        grads = tape.gradient(total, [net.trunk_variables, *head_vars])
        diagnostics = {}
        if diagnose:
            G = tf.stack([gradmath.flatten(tape.gradient(o, net.trunk_variables)) for o in objectives])
            diagnostics = gradmath.diagnostics(G, gradmath.flatten(grads[0]))
        weighting_grads = self.weighting.gradients(tape, losses, objectives)
        del tape

        def apply_model():
            self.trunk_optimizer.apply_gradients(zip(grads[0], net.trunk_variables))
            self.apply_heads(grads[1:])

        checks = [g for group in grads for g in group]
        applied, _ = self.commit(x, y, losses, checks, apply_model, weighting_grads)
        return tf.stack(losses), diagnostics, applied
