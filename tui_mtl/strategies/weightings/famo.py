"""FAMO (Liu et al. 2023): fast adaptive multitask optimisation.

Weights z = softmax(xi). The model descends sum_i z_i log L_i / c with c = sum_i z_i / L_i, i.e.
effective weights z_i / (c L_i). After the step a second forward pass on the same batch measures
delta_i = log L_i(before) - log L_i(after), and the logits take an Adam step along the softmax's
Jacobian applied to delta, plus weight decay `gamma`: heads whose loss dropped less gain weight.
"""

from __future__ import annotations

import tensorflow as tf

from tui_mtl.strategies.base import Weighting, built_optimizer
from tui_mtl.strategies.catalog import FAMOParams

FLOOR = 1e-8


def famo_logit_gradient(logits: tf.Tensor, delta: tf.Tensor, gamma: float) -> tf.Tensor:
    z = tf.nn.softmax(logits)
    return z * (delta - tf.reduce_sum(z * delta)) + gamma * logits


class FAMO(Weighting):
    params: FAMOParams

    def __init__(self, ctx, params):
        super().__init__(ctx, params)
        self.logits = tf.Variable(tf.zeros([ctx.k]), name="famo_logits")
        self.w = tf.Variable(tf.ones([ctx.k]), trainable=False, name="famo_effective_weights")
        self.optimizer = built_optimizer(ctx.make_optimizer, float(params.lr), [self.logits])

    def _scaled(self, losses):
        return [self.ctx.scales[i] * losses[i] + FLOOR for i in range(self.ctx.k)]

    def _weights(self, global_losses) -> tf.Tensor:
        z = tf.nn.softmax(self.logits)
        inverse = z / tf.stack(self._scaled(global_losses))
        return inverse / tf.reduce_sum(inverse)  # z_i / (c L_i)

    def objectives(self, losses):
        # the weights come from the global losses, the same on every replica
        w = tf.stop_gradient(self._weights(self.ctx.summed(tf.stack(losses))))
        return [w[i] * self.ctx.scales[i] * loss for i, loss in enumerate(losses)]

    def current(self):
        return tf.convert_to_tensor(self.w)

    def apply(self, gradients, losses):
        scales = tf.stack([self.ctx.scales[i] for i in range(self.ctx.k)])
        self.w.assign(self._weights(tf.stack(losses)) * scales)

    def after_step(self, x, y, losses):
        before = tf.stack(self._scaled(losses))
        after = tf.stack(self._scaled(self.ctx.forward_global(x, y)))
        delta = tf.math.log(before) - tf.math.log(after)
        grad = famo_logit_gradient(tf.convert_to_tensor(self.logits), delta, float(self.params.gamma))
        self.optimizer.apply_gradients([(grad, self.logits)])

    def optimizers(self):
        return {"logits": self.optimizer}

    def variables(self):
        return {"logits": self.logits, "effective_weights": self.w}
