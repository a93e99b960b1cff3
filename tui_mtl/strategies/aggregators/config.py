"""`config` — ConFIG (Liu et al. 2025): the conflict-free direction. u is the unit vector along
pinv(G_hat) 1, G_hat the unit gradients g_i / |g_i| (so u makes the same angle with every g_i), and
d = (sum_i g_i . u) u: the length is what the gradients give along u.

On the Gram matrix: pinv(G_hat) 1 = G_hat^T beta with beta = pinv(A_hat) 1, A_hat = D^-1 A D^-1; the
rows are c_i g_i with c_i = (sum_j g_j . u) beta_i / (|g_i| |x|), x = G_hat^T beta.
"""

from __future__ import annotations

import tensorflow as tf

from tui_mtl.strategies import gradmath
from tui_mtl.strategies.base import Aggregator


def config_weights(gram: tf.Tensor) -> tf.Tensor:
    a = tf.cast(gram, tf.float64)
    norms = tf.sqrt(tf.maximum(tf.linalg.diag_part(a), 1e-300))
    unit = a / (norms[:, None] * norms[None, :])
    values, vectors = tf.linalg.eigh(unit)
    kept = values > tf.reduce_max(values) * float(gram.shape[0]) * 1e-12
    inverse = tf.where(kept, 1.0 / tf.where(kept, values, tf.ones_like(values)), tf.zeros_like(values))
    beta = tf.linalg.matvec(tf.matmul(vectors * inverse[None, :], vectors, transpose_b=True),
                            tf.ones_like(norms))
    x_norm = tf.sqrt(tf.maximum(tf.tensordot(beta, tf.linalg.matvec(unit, beta), 1), 1e-300))
    along = tf.reduce_sum(tf.linalg.matvec(unit, beta) * norms) / x_norm  # sum_j g_j . u
    weights = along * beta / (norms * x_norm)
    return tf.cast(tf.where(tf.reduce_all(tf.math.is_finite(weights)), weights, tf.ones_like(weights)), gram.dtype)


class ConFIG(Aggregator):
    def contributions(self, G):
        return config_weights(gradmath.finite_gram(G))[:, None] * G
