"""`mgda` (Sener & Koltun 2018): the min-norm point of the convex hull of the trunk gradients.

alpha on the simplex minimises |sum_i alpha_i g_i / n_i|: closed form for two heads, exact over the
simplex's faces up to six (`gradmath.min_norm_on_faces`), Frank-Wolfe (`iterations`) beyond. The
normaliser n_i is 1 by default, or the paper's |g_i| (`l2`), L_i (`loss`) or L_i |g_i| (`loss+`).
The rows are K alpha_i g_i / n_i, so without normalisation the direction's size is comparable to
`summed`'s sum of K gradients (which matters for SGD, not for Adam).
"""

from __future__ import annotations

import tensorflow as tf

from tui_mtl.strategies import gradmath
from tui_mtl.strategies.base import Aggregation, Aggregator
from tui_mtl.strategies.catalog import MGDAParams


def normalizers(norms: tf.Tensor, losses: tf.Tensor, kind: str) -> tf.Tensor:
    """n_i [K] for MGDA's `normalization` option, from the gradients' norms |g_i| and the losses."""
    norms = norms + gradmath.EPS
    by_kind = {"none": tf.ones_like(norms), "l2": norms, "loss": losses + gradmath.EPS,
               "loss+": (losses + gradmath.EPS) * norms}
    return by_kind[kind]


class MGDA(Aggregator):
    params: MGDAParams

    def aggregate(self, G, losses):
        normalized = G / normalizers(tf.norm(G, axis=1), losses, self.params.normalization)[:, None]
        alpha = gradmath.min_norm_weights(normalized, int(self.params.iterations))
        return Aggregation(float(G.shape[0]) * alpha[:, None] * normalized)

    @property
    def representation(self) -> bool:
        return self.params.representation

    def representation_coefficients(self, gram, losses):
        """MGDA-UB: the min-norm point of the z-gradients; c_i = K alpha_i / n_i, as `aggregate`'s rows."""
        n = normalizers(tf.sqrt(tf.maximum(tf.linalg.diag_part(gram), 0.0)), losses, self.params.normalization)
        alpha = gradmath.min_norm_from_gram(gram / (n[:, None] * n[None, :]), int(self.params.iterations))
        return float(gram.shape[0]) * alpha / n
