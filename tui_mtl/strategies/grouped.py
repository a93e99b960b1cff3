"""`grouped`: one optimizer per head, at that head's rate, over the trunk and that head.

The TF1 idiom `tf.group(opt1.minimize(L1), opt2.minimize(L2))`: every gradient of w_i*s_i*L_i is
taken at the same parameters, then each optimizer applies its own, so the trunk receives the sum of
K optimizer steps and keeps K separate sets of moments (Adam then normalises each loss's scale away).
"""

from __future__ import annotations

import tensorflow as tf

from tui_mtl.strategies import gradmath
from tui_mtl.strategies.base import PerHeadOptimizers


class Grouped(PerHeadOptimizers):
    name = "grouped"

    def train_step(self, x, y, variant, diagnose):
        ctx = self.ctx
        trunk_vars = ctx.net.trunk_variables
        with tf.GradientTape(persistent=True) as tape:
            losses = ctx.forward_losses(x, y)
            objectives = self.weighting.objectives(losses)
        updates = [(name, tape.gradient(objective, self.variables_of(name)))
                   for name, objective in zip(ctx.head_names, objectives)]
        self.weighting.train(tape, losses, objectives)
        del tape
        # All gradients exist before the first optimizer writes: they are taken at the same parameters.
        steps = []
        for name, grads in updates:
            before = gradmath.flatten(trunk_vars) if diagnose else None
            self.head_optimizers[name].apply_gradients(zip(grads, self.variables_of(name)))
            if diagnose:  # what this optimizer actually did to the trunk
                steps.append(before - gradmath.flatten(trunk_vars))
        self.weighting.after_step(x, y, losses)
        diagnostics = {}
        if diagnose:
            G = tf.stack([gradmath.flatten(grads[:len(trunk_vars)]) for _name, grads in updates])
            diagnostics = gradmath.diagnostics(G, parts=tf.stack(steps))
        return tf.stack(losses), diagnostics
