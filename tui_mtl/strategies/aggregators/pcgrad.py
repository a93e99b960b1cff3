"""`pcgrad` (Yu et al. 2020): project each head's trunk gradient off those it conflicts with, in a
random order per head; the rows are the projected gradients."""

from __future__ import annotations

from tui_mtl.strategies import gradmath
from tui_mtl.strategies.base import Aggregator, random_stream


class PCGrad(Aggregator):
    def __init__(self, ctx, params):
        super().__init__(ctx, params)
        self.stream = random_stream(ctx, "pcgrad")

    def variables(self):
        return {"random": self.stream.state}

    def contributions(self, G):
        return gradmath.pcgrad(G, gradmath.random_orders(G.shape[0], self.stream))
