"""`alternating`: one head per step, moved by that head's optimizer over the trunk and that head.

The head is chosen round-robin, or sampled with p_i proportional to w_i^alpha (`proportional`), or
with alpha annealed from `alpha` to 0.2*alpha over `anneal_steps` (`annealing`), as the TF Model
Garden's interleaving trainer samples tasks. Each head is a separately traced variant: the choice is
made in Python, so nothing retraces once every head has run.
"""

from __future__ import annotations

import numpy as np

from tui_mtl.strategies.base import Layout, built_optimizer
from tui_mtl.strategies.catalog import AlternatingParams


class Alternating(Layout):
    params: AlternatingParams

    one_head = True

    def __init__(self, ctx, params, rates):
        super().__init__(ctx, params, rates)
        self._optimizers = {name: built_optimizer(ctx.make_optimizer, rates[name], self.head_variables(name))
                            for name in ctx.head_names}
        self._rng = np.random.default_rng(ctx.seed)
        self._turns = 0

    def optimizers(self):
        return self._optimizers

    def probabilities(self, weights: np.ndarray) -> np.ndarray:
        weights = np.maximum(np.asarray(weights, dtype=np.float64), 0.0)
        alpha = float(self.params.alpha)
        if self.params.sampling == "annealing":
            alpha *= 1.0 - 0.8 * min(self._turns / self.params.anneal_steps, 1.0)
        scores = np.where(weights > 0, weights ** alpha, 0.0)
        if scores.sum() <= 0:
            return np.full(len(weights), 1.0 / len(weights))
        return scores / scores.sum()

    def next_variant(self, weights):
        k = self.ctx.k
        if self.params.sampling == "round_robin":
            choice = self._turns % k
        else:
            choice = int(self._rng.choice(k, p=self.probabilities(weights())))
        self._turns += 1
        return choice

    def python_state(self):
        return {"turns": self._turns, "rng": self._rng.bit_generator.state}

    def load_python_state(self, state):
        self._turns = int(state["turns"])
        self._rng.bit_generator.state = state["rng"]

    def apply(self, rows, heads, variant, measure):
        name = self.ctx.head_names[variant]
        self._optimizers[name].apply_gradients(zip([*rows[0], *heads[0]], self.head_variables(name)))
        return None
