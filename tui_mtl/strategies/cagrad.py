"""`cagrad` (Liu et al. 2021): the mean gradient, pulled towards the worst-off head within radius c."""

from __future__ import annotations

from tui_mtl.strategies import gradmath
from tui_mtl.strategies.base import GradientSurgery


class CAGrad(GradientSurgery):
    name = "cagrad"
    DEFAULTS = {"c": 0.4}

    def combine(self, G):
        # times K: the same scale as summed's sum of gradients
        return float(G.shape[0]) * gradmath.cagrad(G, float(self.params["c"]))
