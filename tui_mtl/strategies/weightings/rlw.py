"""Random loss weighting (Lin et al. 2021, RLW): w = K softmax(e), e ~ N(0, 1) drawn every step
(after each step, for the next; the first step uses w = 1)."""

from __future__ import annotations

import tensorflow as tf

from tui_mtl.strategies.base import Weighting, random_stream


class RandomWeighting(Weighting):
    def __init__(self, ctx, params):
        super().__init__(ctx, params)
        self.w = tf.Variable(tf.ones([ctx.k]), trainable=False, name="random_weights")
        self.stream = random_stream(ctx, "random")

    def variables(self):
        return {"weights": self.w, "random": self.stream.state}

    def objectives(self, losses):
        return [self.w[i] * self.ctx.scales[i] * loss for i, loss in enumerate(losses)]

    def after_step(self, x, y, losses):
        # the next step's draw, made once (not per replica) so every replica uses the same weights
        k = self.ctx.k
        self.w.assign(float(k) * tf.nn.softmax(self.stream.normal([k])))

    def current(self):
        return tf.convert_to_tensor(self.w)
