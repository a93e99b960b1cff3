"""`upgrad` — UPGrad (Quinton & Rey 2024): project each g_i onto the dual cone {x : G x >= 0} (the
directions that conflict with no head) and add the projections.

The projection of g_i is G^T v_i with v_i = argmin v^T (G G^T) v subject to v >= e_i (its KKT
conditions are G x >= 0), solved exactly on the Gram matrix (`gradmath.box_qp_on_faces`: 2^K small
solves per head, batched). The result has a non-negative inner product with every g_i. The rows are w_j g_j with
w = sum_i v_i: K times TorchJD's mean of the projections, the scale of `summed`'s sum.
"""

from __future__ import annotations

import tensorflow as tf

from tui_mtl.strategies import gradmath
from tui_mtl.strategies.base import Aggregator


def upgrad_weights(gram: tf.Tensor) -> tf.Tensor:
    k = gram.shape[0]
    a, _scale = gradmath._unit_free(gram)
    v = gradmath.box_qp_on_faces(a, tf.eye(k, dtype=tf.float64))  # [K targets, K]
    return tf.cast(tf.reduce_sum(v, axis=0), gram.dtype)


class UPGrad(Aggregator):
    def contributions(self, G):
        return upgrad_weights(gradmath.finite_gram(G))[:, None] * G
