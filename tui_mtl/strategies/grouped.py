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
        weighting_grads = self.weighting.gradients(tape, losses, objectives)
        del tape
        G = tf.stack([gradmath.flatten(grads[:len(trunk_vars)]) for _name, grads in updates])

        def apply_model():
            # All gradients exist before the first optimizer writes: they are taken at the same parameters.
            steps = []
            for name, grads in updates:
                before = gradmath.flatten(trunk_vars) if diagnose else None
                self.head_optimizers[name].apply_gradients(zip(grads, self.variables_of(name)))
                if diagnose:  # what this optimizer actually did to the trunk
                    steps.append(before - gradmath.flatten(trunk_vars))
            return tf.stack(steps) if diagnose else None

        checks = [g for _name, grads in updates for g in grads]
        applied, steps = self.commit(x, y, losses, checks, apply_model, weighting_grads,
                                     skipped_result=tf.zeros_like(G) if diagnose else None)
        diagnostics = gradmath.diagnostics(G, parts=steps) if diagnose else {}
        return tf.stack(losses), diagnostics, applied
