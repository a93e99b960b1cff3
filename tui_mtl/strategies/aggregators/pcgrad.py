"""`pcgrad` (Yu et al. 2020): project each head's trunk gradient off those it conflicts with, in a
random order per head; the rows are the projected gradients."""

from __future__ import annotations

from tui_mtl.strategies import gradmath
from tui_mtl.strategies.base import Aggregator


class PCGrad(Aggregator):
    def contributions(self, G):
        return gradmath.pcgrad(G, gradmath.random_orders(G.shape[0]))
