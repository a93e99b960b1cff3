"""`cagrad` (Liu et al. 2021): the mean gradient, pulled towards the worst-off head within radius c.

d = sum_i a_i g_i (`gradmath.cagrad_coefficients`); the rows are K a_i g_i, the same scale as
`summed`'s sum of gradients. With c = 0 the rows are the gradients themselves.
"""

from __future__ import annotations

from tui_mtl.strategies import gradmath
from tui_mtl.strategies.base import Aggregator
from tui_mtl.strategies.catalog import CAGradParams


class CAGrad(Aggregator):
    params: CAGradParams

    def contributions(self, G):
        coefficients = gradmath.cagrad_coefficients(G, float(self.params.c))
        return float(G.shape[0]) * coefficients[:, None] * G
