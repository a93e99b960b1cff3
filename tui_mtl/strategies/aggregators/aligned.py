"""`aligned` — Aligned-MTL (Senushkin et al. 2023): align the gradients into an orthogonal system of
equal norms, so the update is stable whatever their conflicts and scales.

With G G^T = V L V^T, B = sqrt(l_min) V L^(-1/2) V^T maps G to BG, whose rows are orthogonal with
norm sqrt(l_min) (BG (BG)^T = l_min I); the update sums them: d = (BG)^T 1 = G^T (B 1). Computed on
the Gram matrix; eigen-directions with a (numerically) zero eigenvalue, where gradients are
dependent, are left out and l_min is the least eigenvalue kept. The rows are a_i g_i with a = B 1.
"""

from __future__ import annotations

import tensorflow as tf

from tui_mtl.strategies import gradmath
from tui_mtl.strategies.base import Aggregator


def aligned_weights(gram: tf.Tensor) -> tf.Tensor:
    """a = B 1 [K]."""
    a = tf.cast(gram, tf.float64)
    values, vectors = tf.linalg.eigh(a)
    tol = tf.reduce_max(values) * float(gram.shape[0]) * 1e-12
    kept = values > tol
    safe = tf.where(kept, values, tf.ones_like(values))
    smallest = tf.reduce_min(tf.where(kept, values, tf.fill(tf.shape(values), tf.constant(float("inf"), tf.float64))))
    inverse_root = tf.where(kept, tf.math.rsqrt(safe), tf.zeros_like(values))
    b = tf.sqrt(smallest) * tf.matmul(vectors * inverse_root[None, :], vectors, transpose_b=True)
    weights = tf.reduce_sum(b, axis=1)
    ok = tf.reduce_any(kept) & tf.reduce_all(tf.math.is_finite(weights))
    return tf.cast(tf.where(ok, weights, tf.ones_like(weights)), gram.dtype)


class AlignedMTL(Aggregator):
    def contributions(self, G):
        return aligned_weights(gradmath.finite_gram(G))[:, None] * G
