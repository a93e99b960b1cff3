"""GradNorm (Chen et al. 2018): weights trained so each head's gradient norm on the last shared
layer tracks the mean norm times its relative inverse training rate to the power alpha.

With G_i = |grad_W w_i L_i| = w_i a_i and r_i = (L_i/L_i(0)) / mean_j(L_j/L_j(0)), the weights
descend sum_i |G_i - mean(G) r_i^alpha| (the target held constant), then are renormalised to sum K.
The user's weights are the starting point.
"""

from __future__ import annotations

import tensorflow as tf

from tui_mtl.strategies.base import Weighting, built_optimizer
from tui_mtl.strategies.catalog import GradNormParams


def gradnorm_weight_gradient(w: tf.Tensor, unit_norms: tf.Tensor, loss_ratios: tf.Tensor,
                             alpha: float) -> tf.Tensor:
    """d/dw of sum_i |w_i a_i - mean(w a) r_i^alpha|, the target treated as a constant."""
    norms = w * unit_norms
    inverse_rate = loss_ratios / tf.reduce_mean(loss_ratios)
    target = tf.stop_gradient(tf.reduce_mean(norms) * inverse_rate ** alpha)
    return tf.sign(norms - target) * unit_norms


class GradNorm(Weighting):
    params: GradNormParams

    needs_tape = True

    def __init__(self, ctx, params):
        super().__init__(ctx, params)
        self.w = tf.Variable(tf.convert_to_tensor(ctx.weights) + 0.0, name="gradnorm_weights")
        self.initial_losses = tf.Variable(tf.zeros([ctx.k]), trainable=False, name="gradnorm_initial_losses")
        self.optimizer = built_optimizer(ctx.make_optimizer, float(params.lr), [self.w])
        # the last shared layer's kernel: the paper's W
        self.shared = [v for v in ctx.net.trunk_variables if len(v.shape) >= 2][-1]

    def objectives(self, losses):
        return [self.w[i] * self.ctx.scales[i] * loss for i, loss in enumerate(losses)]

    def current(self):
        return tf.convert_to_tensor(self.w)

    def gradients(self, tape, losses, objectives):
        # each head's gradient on the shared layer; their norms are taken once summed over replicas
        return [tape.gradient(o, self.shared) for o in objectives]

    def apply(self, gradients, losses):
        norms = tf.stack([tf.norm(g) for g in gradients])
        raw = tf.stack([self.ctx.scales[i] * loss for i, loss in enumerate(losses)])
        first = tf.reduce_all(tf.equal(self.initial_losses, 0.0))
        self.initial_losses.assign(tf.where(first, raw, self.initial_losses))
        unit_norms = norms / tf.maximum(tf.abs(tf.convert_to_tensor(self.w)), 1e-8)
        ratios = raw / tf.maximum(self.initial_losses, 1e-12)
        grad = gradnorm_weight_gradient(tf.convert_to_tensor(self.w), unit_norms, ratios,
                                        float(self.params.alpha))
        self.optimizer.apply_gradients([(grad, self.w)])
        w = tf.maximum(tf.convert_to_tensor(self.w), 1e-4)
        self.w.assign(w * float(self.ctx.k) / tf.reduce_sum(w))

    def optimizers(self):
        return {"weights": self.optimizer}

    def variables(self):
        return {"initial_losses": self.initial_losses, "weights": self.w}
