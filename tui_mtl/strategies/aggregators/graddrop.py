"""`graddrop` — GradDrop (Chen et al. 2020): per trunk coordinate, keep only the gradients of one sign,
chosen at random with the sign's share of the mass.

Purity P = 1/2 (1 + sum_i g_i / sum_i |g_i|) per coordinate; with U ~ Uniform(0, 1), head i keeps
its gradient where (P > U and g_i > 0) or (P < U and g_i < 0), and drops it elsewhere. Applied to the
trunk's parameter gradients (LibMTL applies it to the representation's).
"""

from __future__ import annotations

import tensorflow as tf

from tui_mtl.strategies.base import Aggregator, random_stream


def graddrop_rows(G: tf.Tensor, uniform: tf.Tensor) -> tf.Tensor:
    purity = 0.5 * (1.0 + tf.reduce_sum(G, axis=0) / (tf.reduce_sum(tf.abs(G), axis=0) + 1e-12))
    keep = ((purity > uniform)[None, :] & (G > 0)) | ((purity < uniform)[None, :] & (G < 0))
    return tf.where(keep, G, tf.zeros_like(G))


class GradDrop(Aggregator):
    def __init__(self, ctx, params):
        super().__init__(ctx, params)
        self.stream = random_stream(ctx, "graddrop")

    def variables(self):
        return {"random": self.stream.state}

    def contributions(self, G):
        return graddrop_rows(G, self.stream.uniform(tf.shape(G)[1:], dtype=G.dtype))
