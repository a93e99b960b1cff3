"""`fairgrad` — FairGrad (Ban & Ji 2024): alpha-fair utility maximisation. w > 0 with
(G G^T) w = w^(-1/alpha) elementwise, d = G^T w; alpha = 1 is Nash-MTL, a larger alpha favours the
worst-off head more (alpha -> infinity approaches max-min fairness). Solved by Newton's method on
the Gram matrix (`gradmath.power_balance`). The rows are w_i g_i, the paper's scale.
"""

from __future__ import annotations

from tui_mtl.strategies import gradmath
from tui_mtl.strategies.base import Aggregator
from tui_mtl.strategies.catalog import FairGradParams


class FairGrad(Aggregator):
    params: FairGradParams

    def contributions(self, G):
        w = gradmath.power_balance(gradmath.finite_gram(G), 1.0 / float(self.params.alpha))
        return w[:, None] * G
