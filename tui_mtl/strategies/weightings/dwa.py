"""Dynamic Weight Average (Liu et al. 2019): w_i = K softmax(r_i / T), r_i = Lbar_i(t-1) / Lbar_i(t-2).

Lbar are mean raw losses over windows of `window` steps (the paper's epochs). Until two windows have
passed every w_i is 1. The user's weights are not used.
"""

from __future__ import annotations

import tensorflow as tf

from tui_mtl.strategies.base import Weighting
from tui_mtl.strategies.catalog import DWAParams


def dwa_weights(previous: tf.Tensor, before_previous: tf.Tensor, temperature: float) -> tf.Tensor:
    ratios = previous / before_previous
    return float(previous.shape[0]) * tf.nn.softmax(ratios / temperature)


class DWA(Weighting):
    params: DWAParams

    def __init__(self, ctx, params):
        super().__init__(ctx, params)
        k = ctx.k
        self.sums = tf.Variable(tf.zeros([k]), trainable=False, name="dwa_sums")
        self.count = tf.Variable(0.0, trainable=False, name="dwa_count")
        self.means = tf.Variable(tf.ones([2, k]), trainable=False, name="dwa_means")  # [t-1, t-2]
        self.windows = tf.Variable(0.0, trainable=False, name="dwa_windows")
        self.w = tf.Variable(tf.ones([k]), trainable=False, name="dwa_weights")

    def variables(self):
        return {"count": self.count, "means": self.means, "sums": self.sums, "weights": self.w,
                "windows": self.windows}

    def objectives(self, losses):
        return [self.w[i] * self.ctx.scales[i] * loss for i, loss in enumerate(losses)]

    def current(self):
        return tf.convert_to_tensor(self.w)

    def observe(self, losses: tf.Tensor) -> None:
        """Add one step's raw losses; close a window every `window` steps."""
        self.sums.assign_add(losses)
        self.count.assign_add(1.0)
        closing = self.count >= float(self.params.window)
        mean = self.sums / tf.maximum(self.count, 1.0)
        means = tf.where(closing, tf.stack([mean, self.means[0]]), self.means)
        windows = self.windows + tf.cast(closing, tf.float32)
        ready = windows >= 2.0
        self.w.assign(tf.where(ready, dwa_weights(means[0], means[1], float(self.params.temperature)), self.w))
        self.means.assign(means)
        self.windows.assign(windows)
        self.sums.assign(tf.where(closing, tf.zeros_like(self.sums), self.sums))
        self.count.assign(tf.where(closing, 0.0, self.count))

    def after_step(self, x, y, losses):
        self.observe(tf.stack(losses))
