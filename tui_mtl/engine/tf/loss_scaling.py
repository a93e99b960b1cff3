"""Dynamic loss scaling for float16 compute (what Keras' LossScaleOptimizer does, for every rule).

float16 gradients underflow to zero below ~6e-8; multiplying every objective by a scale S before the
backward pass keeps them representable, and dividing the gradients by S afterwards undoes it. S is
dynamic: halved when a step's gradients overflow (that step is skipped, as every non-finite step is),
doubled after `growth_steps` clean steps in a row.

One scale for the whole step, not one per optimizer: a step is applied all-or-nothing (the same
guard that keeps the last good weights on a NaN), and `summed` takes one backward pass of the sum of
the objectives, which one scale can undo and K could not. Gradients are unscaled on the plan summed
over replicas (`strategies.step.Plan.unscaled`), so every rule, weighting and diagnostic sees true gradients.
"""

from __future__ import annotations

from dataclasses import dataclass

import tensorflow as tf


@dataclass(frozen=True)
class LossScaling:
    """Keras' LossScaleOptimizer defaults: start at 2^15, double after 2000 clean steps."""

    initial: float = 2.0 ** 15
    growth_steps: int = 2000
    minimum: float = 1.0  # below this an overflow is no longer a scaling artefact: training pauses
    maximum: float = 2.0 ** 64  # growth stops here (a scale that reached inf could never come down)


class DynamicLossScale:
    """The scale and its clean-step counter, as variables (the step function updates them)."""

    def __init__(self, config: LossScaling):
        self.config = config
        self.scale = tf.Variable(float(config.initial), dtype=tf.float32, trainable=False, name="loss_scale")
        self.clean_steps = tf.Variable(0, dtype=tf.int64, trainable=False, name="loss_scale_clean_steps")

    def reset(self) -> None:
        self.scale.assign(float(self.config.initial))
        self.clean_steps.assign(0)

    def scale_objectives(self, objectives: list) -> list:
        return [self.scale * objective for objective in objectives]

    def update(self, applied, losses):
        """After a step (in the graph): halve on an overflow (finite losses, step not applied), grow
        after `growth_steps` clean steps. Returns whether the step was skipped only for the scale's
        sake; a non-finite loss (divergence) or an overflow at the minimum scale is a real fault."""
        overflow = tf.logical_and(tf.logical_not(applied), tf.reduce_all(tf.math.is_finite(losses)))
        rescaled = tf.logical_and(overflow, self.scale > self.config.minimum)
        clean = tf.where(applied, self.clean_steps + 1, tf.zeros_like(self.clean_steps))
        grow = clean >= self.config.growth_steps
        halved = tf.maximum(self.scale * 0.5, self.config.minimum)
        grown = tf.minimum(self.scale * 2.0, self.config.maximum)
        self.scale.assign(tf.where(overflow, halved, tf.where(grow, grown, self.scale)))
        self.clean_steps.assign(tf.where(grow, tf.zeros_like(clean), clean))
        return rescaled
