"""`imtl` — IMTL-G (Liu et al. 2021): the combination d = sum_i alpha_i g_i whose projection on every
unit gradient u_i = g_i / |g_i| is the same, so no head's direction is favoured whatever its scale.

With D = [g_1 - g_k] and U = [u_1 - u_k] (k = 2..K), alpha_{2..K} = g_1 U^T (D U^T)^-1 and alpha_1 =
1 - sum alpha_{2..K} (the paper's closed form); everything is a dot product, so it is solved on the
Gram matrix. The rows are K alpha_i g_i, the scale of `summed`'s sum of K gradients.
"""

from __future__ import annotations

import tensorflow as tf

from tui_mtl.strategies import gradmath
from tui_mtl.strategies.base import Aggregator


def imtl_weights(gram: tf.Tensor) -> tf.Tensor:
    """alpha [K] from the Gram matrix G G^T (sum 1; entries may be negative)."""
    k = gram.shape[0]
    if k == 1:
        return tf.ones([1], gram.dtype)
    norms = tf.sqrt(tf.maximum(tf.linalg.diag_part(gram), gradmath.EPS))
    dots = gram / norms[None, :]  # g_i . u_j
    # D U^T [a, b] = (g_1 - g_a) . (u_1 - u_b), for a, b in 2..K
    rows = dots[0:1, :] - dots[1:, :]  # (g_1 - g_a) . u_j
    du = rows[:, 0:1] - rows[:, 1:]
    g1u = dots[0, 0] - dots[0, 1:]  # g_1 . (u_1 - u_b)
    ridge = 1e-9 * tf.reduce_max(tf.abs(du)) * tf.eye(k - 1, dtype=gram.dtype)
    rest = tf.linalg.solve(tf.transpose(du) + ridge, g1u[:, None])[:, 0]  # alpha (D U^T) = g_1 U^T
    return tf.concat([[1.0 - tf.reduce_sum(rest)], rest], axis=0)


class IMTLG(Aggregator):
    def contributions(self, G):
        alpha = imtl_weights(gradmath.finite_gram(G))
        return float(G.shape[0]) * alpha[:, None] * G
