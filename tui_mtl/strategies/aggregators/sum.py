"""`sum`: every head's own gradient, unchanged (the trunk direction is their sum)."""

from __future__ import annotations

from tui_mtl.strategies.base import Aggregator


class Sum(Aggregator):
    identity = True

    def contributions(self, G):
        return G
