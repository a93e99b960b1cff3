"""`gradvac` — Gradient Vaccine (Wang et al. 2021): lift each pair's cosine to a target that follows
its history.

Per pair, phi_ij is an EMA (rate `beta`) of cos(g_i, g_j). For each head, in a random order of the
others, when cos(g_i', g_j) < phi_ij: g_i' += |g_i'| (phi sqrt(1 - cos^2) - cos sqrt(1 - phi^2)) /
(|g_j| sqrt(1 - phi^2)) g_j, which makes the cosine phi_ij; phi_ij then moves towards the cosine
seen. The targets are state (checkpointed, forked, rewound), updated on applied steps only.
"""

from __future__ import annotations

import tensorflow as tf

from tui_mtl.strategies import gradmath
from tui_mtl.strategies.base import Aggregation, Aggregator, random_stream
from tui_mtl.strategies.catalog import GradVacParams

EPS = 1e-12


def gradvac_rows(G: tf.Tensor, targets: tf.Tensor, orders: tf.Tensor, beta: float) -> tuple[tf.Tensor, tf.Tensor]:
    """(rows [K, P], new targets [K, K])."""
    k = G.shape[0]
    rows, new = [], targets
    norms = tf.norm(G, axis=1)
    for i in range(k):
        g = G[i]
        for position in range(k):
            j = orders[i, position]
            other, other_norm = tf.gather(G, j), tf.gather(norms, j)
            g_norm = tf.norm(g)
            cos = tf.reduce_sum(g * other) / (g_norm * other_norm + EPS)
            phi = tf.gather_nd(new, [[i, j]])[0]
            lift = g_norm * (phi * tf.sqrt(tf.maximum(1.0 - cos * cos, 0.0))
                             - cos * tf.sqrt(tf.maximum(1.0 - phi * phi, 0.0)))
            lift = lift / (other_norm * tf.sqrt(tf.maximum(1.0 - phi * phi, EPS)) + EPS)
            apply = tf.logical_and(tf.not_equal(j, i), cos < phi)
            g = tf.where(apply, g + lift * other, g)
            updated = tf.where(tf.not_equal(j, i), (1.0 - beta) * phi + beta * cos, phi)
            new = tf.tensor_scatter_nd_update(new, [[i, j]], [updated])
        rows.append(g)
    return tf.stack(rows), new


class GradVac(Aggregator):
    params: GradVacParams

    def __init__(self, ctx, params):
        super().__init__(ctx, params)
        self.targets = tf.Variable(tf.zeros([ctx.k, ctx.k]), trainable=False, name="gradvac_targets")
        self.stream = random_stream(ctx, "gradvac")

    def variables(self):
        return {"targets": self.targets, "random": self.stream.state}

    def aggregate(self, G, losses):
        orders = gradmath.random_orders(G.shape[0], self.stream)
        rows, targets = gradvac_rows(G, tf.convert_to_tensor(self.targets), orders, float(self.params.beta))
        return Aggregation(rows, ((self.targets, targets),))
