"""`alternating`: one head per step, moved by that head's optimizer over the trunk and that head.

The head is chosen round-robin, or sampled with p_i proportional to w_i^alpha (`proportional`), or
with alpha annealed from `alpha` to 0.2*alpha over `anneal_steps` (`annealing`), as the TF Model
Garden's interleaving trainer samples tasks. Each head is a separately traced variant: the choice is
made in Python, so nothing retraces after every head has run once.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from tui_mtl.strategies import gradmath
from tui_mtl.strategies.base import PerHeadOptimizers, check_choice

SAMPLERS = ("round_robin", "proportional", "annealing")


class Alternating(PerHeadOptimizers):
    name = "alternating"
    DEFAULTS = {"sampling": "round_robin", "alpha": 1.0, "anneal_steps": 1000}

    def __init__(self, ctx, trunk_lr, head_lrs, weighting, params):
        super().__init__(ctx, trunk_lr, head_lrs, weighting, params)
        check_choice(self.params["sampling"], SAMPLERS, "strategy.params.sampling")
        self._rng = np.random.default_rng(ctx.seed)
        self._turns = 0

    def probabilities(self) -> np.ndarray:
        weights = np.maximum(np.asarray(self.weighting.current(), dtype=np.float64), 0.0)
        alpha = float(self.params["alpha"])
        if self.params["sampling"] == "annealing":
            alpha *= 1.0 - 0.8 * min(self._turns / max(1, int(self.params["anneal_steps"])), 1.0)
        scores = np.where(weights > 0, weights ** alpha, 0.0)
        if scores.sum() <= 0:
            return np.full(len(weights), 1.0 / len(weights))
        return scores / scores.sum()

    def next_variant(self) -> int:
        k = self.ctx.k
        if self.params["sampling"] == "round_robin":
            choice = self._turns % k
        else:
            choice = int(self._rng.choice(k, p=self.probabilities()))
        self._turns += 1
        return choice

    def python_state(self):
        return {"turns": self._turns, "rng": self._rng.bit_generator.state}

    def load_python_state(self, state):
        self._turns = state["turns"]
        self._rng.bit_generator.state = state["rng"]

    def reset_state(self):
        super().reset_state()
        self._turns = 0

    def compute(self, x, y, variant, diagnose):
        ctx = self.ctx
        name = ctx.head_names[variant]
        with tf.GradientTape(persistent=diagnose or self.weighting.needs_tape) as tape:
            losses = ctx.forward_losses(x, y)
            objectives = self.objectives(losses)
        plan = {"losses": losses, "grads": list(tape.gradient(objectives[variant], self.variables_of(name))),
                "weighting": self.weighting.gradients(tape, losses, objectives)}
        if diagnose:
            trunk = ctx.net.trunk_variables
            plan["per_head"] = tf.stack([gradmath.flatten(tape.gradient(o, trunk)) for o in objectives])
        del tape
        return plan

    def apply(self, x, y, plan, variant, diagnose):
        name = self.ctx.head_names[variant]
        variables = self.variables_of(name)
        applied, _ = self.commit(x, y, plan["losses"], plan["grads"],
                                 lambda: self.head_optimizers[name].apply_gradients(zip(plan["grads"], variables)),
                                 plan["weighting"])
        G = plan.get("per_head")
        return (gradmath.diagnostics(G, G[variant]) if diagnose else {}), applied
