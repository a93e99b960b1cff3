"""`mgda` (Sener & Koltun 2018): the min-norm point of the convex hull of the trunk gradients.

alpha on the simplex minimises |sum_i alpha_i g_i|: closed form for two heads, exact over the
simplex's faces up to six (`gradmath.min_norm_on_faces`), Frank-Wolfe (`iterations`) beyond. The
rows are K alpha_i g_i, so the direction's size is comparable to `summed`'s sum of K gradients
(which matters for SGD, not for Adam).
"""

from __future__ import annotations

from tui_mtl.strategies import gradmath
from tui_mtl.strategies.base import Aggregator
from tui_mtl.strategies.catalog import MGDAParams


class MGDA(Aggregator):
    params: MGDAParams

    def contributions(self, G):
        alpha = gradmath.min_norm_weights(G, int(self.params.iterations))
        return float(G.shape[0]) * alpha[:, None] * G

