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

    def compute(self, x, y, variant, diagnose):
        net, ctx = self.ctx.net, self.ctx
        # The per-head gradients cost K more backward passes: only on diagnostic steps.
        with tf.GradientTape(persistent=diagnose or self.weighting.needs_tape) as tape:
            losses = ctx.forward_losses(x, y)
            objectives = self.objectives(losses)
            total = tf.add_n(objectives)
        head_vars = [net.head_variables[name] for name in ctx.head_names]
        grads = tape.gradient(total, [net.trunk_variables, *head_vars])
        plan = {"losses": losses, "trunk": list(grads[0]), "heads": [list(g) for g in grads[1:]],
                "weighting": self.weighting.gradients(tape, losses, objectives)}
        if diagnose:
            plan["per_head"] = tf.stack([gradmath.flatten(tape.gradient(o, net.trunk_variables))
                                         for o in objectives])
        del tape
        return plan

    def apply(self, x, y, plan, variant, diagnose):
        net = self.ctx.net

        def apply_model():
            self.trunk_optimizer.apply_gradients(zip(plan["trunk"], net.trunk_variables))
            self.apply_heads(plan["heads"])

        checks = [*plan["trunk"], *(g for group in plan["heads"] for g in group)]
        applied, _ = self.commit(x, y, plan["losses"], checks, apply_model, plan["weighting"])
        diagnostics = gradmath.diagnostics(plan["per_head"], gradmath.flatten(plan["trunk"])) if diagnose else {}
        return diagnostics, applied
