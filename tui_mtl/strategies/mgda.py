"""`mgda` (Sener & Koltun 2018): the min-norm point of the convex hull of the trunk gradients.

Closed form for two heads, Frank-Wolfe beyond. The direction is scaled by K so its size is
comparable to `summed` (which adds the K gradients), which matters for SGD, not for Adam.
"""

from __future__ import annotations

import tensorflow as tf

from tui_mtl.strategies import gradmath
from tui_mtl.strategies.base import GradientSurgery


class MGDA(GradientSurgery):
    name = "mgda"
    DEFAULTS = {"iterations": 50}

    def combine(self, G):
        alpha = gradmath.min_norm_weights(G, int(self.params["iterations"]))
        return float(G.shape[0]) * tf.linalg.matvec(G, alpha, transpose_a=True)
