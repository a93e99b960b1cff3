"""`pcgrad` (Yu et al. 2020): project each head's trunk gradient off those it conflicts with."""

from __future__ import annotations

from tui_mtl.strategies import gradmath
from tui_mtl.strategies.base import GradientSurgery


class PCGrad(GradientSurgery):
    name = "pcgrad"

    def combine(self, G):
        return gradmath.pcgrad(G, gradmath.random_orders(G.shape[0]))
