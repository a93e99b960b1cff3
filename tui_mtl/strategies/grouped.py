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

    def compute(self, x, y, variant, diagnose):
        ctx = self.ctx
        with tf.GradientTape(persistent=True) as tape:
            losses = ctx.forward_losses(x, y)
            objectives = self.objectives(losses)
        grads = [list(tape.gradient(objective, self.variables_of(name)))
                 for name, objective in zip(ctx.head_names, objectives)]
        plan = {"losses": losses, "grads": grads, "weighting": self.weighting.gradients(tape, losses, objectives)}
        del tape
        return plan

    def apply(self, x, y, plan, variant, diagnose):
        trunk_vars = self.ctx.net.trunk_variables
        n = len(trunk_vars)
        G = tf.stack([gradmath.flatten(grads[:n]) for grads in plan["grads"]])

        def apply_model():
            # All gradients exist before the first optimizer writes: they are taken at the same parameters.
            steps = []
            for name, grads in zip(self.ctx.head_names, plan["grads"]):
                before = gradmath.flatten(trunk_vars) if diagnose else None
                self.head_optimizers[name].apply_gradients(zip(grads, self.variables_of(name)))
                if diagnose:  # what this optimizer actually did to the trunk
                    steps.append(before - gradmath.flatten(trunk_vars))
            return tf.stack(steps) if diagnose else None

        checks = [g for grads in plan["grads"] for g in grads]
        applied, steps = self.commit(x, y, plan["losses"], checks, apply_model, plan["weighting"],
                                     skipped_result=tf.zeros_like(G) if diagnose else None)
        return (gradmath.diagnostics(G, parts=steps) if diagnose else {}), applied
