"""`stch` — smooth Tchebycheff scalarisation (Lin et al. 2024): K mu log sum_i exp(w_i log(L_i / z_i) / mu).

It descends on the worst head relative to a nadir point z, smoothly (mu -> 0 is the max); the
user's weights w_i are the paper's preference lambda_i (all 1 is the authors' LibMTL code). As there:
for `warmup` steps the objective is sum_i log L_i, then z is the mean of the losses over the next
`window` steps (still on log losses), then the smooth max. The effective weight is
K w_i softmax_i(w log(L / z) / mu) / L_i; per replica, that weight (from the global losses, held
constant) times L_i. The loss scales cancel in L_i / z_i and are not applied.
"""

from __future__ import annotations

import tensorflow as tf

from tui_mtl.strategies.base import Weighting
from tui_mtl.strategies.catalog import STCHParams

FLOOR = 1e-8


def stch_weights(losses: tf.Tensor, nadir: tf.Tensor, preference: tf.Tensor, mu: float) -> tf.Tensor:
    safe = losses + FLOOR
    k = float(losses.shape[0])
    return k * preference * tf.nn.softmax(preference * tf.math.log(safe / nadir) / mu) / safe


class SmoothTchebycheff(Weighting):
    params: STCHParams

    def __init__(self, ctx, params):
        super().__init__(ctx, params)
        k = ctx.k
        self.steps = tf.Variable(0.0, trainable=False, name="stch_steps")
        self.sums = tf.Variable(tf.zeros([k]), trainable=False, name="stch_sums")
        self.nadir = tf.Variable(tf.ones([k]), trainable=False, name="stch_nadir")
        self.w = tf.Variable(tf.ones([k]), trainable=False, name="stch_effective_weights")

    def variables(self):
        return {"effective_weights": self.w, "nadir": self.nadir, "steps": self.steps, "sums": self.sums}

    @property
    def _ready(self) -> float:
        return float(self.params.warmup + self.params.window)

    def _weights(self, losses: tf.Tensor) -> tf.Tensor:
        measured = self.steps >= self._ready
        preference = tf.convert_to_tensor(self.ctx.weights)
        return tf.where(measured, stch_weights(losses, self.nadir, preference, float(self.params.mu)),
                        1.0 / (losses + FLOOR))

    def objectives(self, losses):
        w = tf.stop_gradient(self._weights(self.ctx.summed(tf.stack(losses))))
        return [w[i] * loss for i, loss in enumerate(losses)]

    def current(self):
        return tf.convert_to_tensor(self.w)

    def apply(self, gradients, losses):
        self.w.assign(self._weights(tf.stack(losses)))

    def after_step(self, x, y, losses):
        measuring = (self.steps >= float(self.params.warmup)) & (self.steps < self._ready)
        sums = self.sums + tf.where(measuring, tf.stack(losses), tf.zeros_like(self.sums))
        self.sums.assign(sums)
        self.steps.assign_add(1.0)
        done = tf.equal(self.steps, self._ready)
        self.nadir.assign(tf.where(done, sums / float(self.params.window) + FLOOR, self.nadir))
