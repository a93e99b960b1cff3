"""The two Keras layers the shared architectures need beyond Keras' own, serializable so an exported
model loads with `keras.models.load_model` once `tui_mtl.architectures` is imported."""

from __future__ import annotations

import keras
import numpy as np


@keras.saving.register_keras_serializable(package="tui_mtl")
class GatedMixture(keras.layers.Layer):
    """sum_e gate[:, e] * expert_e, for inputs [gate [B, E], expert_1 [B, d], ..., expert_E]."""

    def call(self, inputs):
        gate, *experts = inputs
        stacked = keras.ops.stack(experts, axis=1)  # [B, E, d]
        return keras.ops.sum(stacked * keras.ops.expand_dims(gate, -1), axis=1)

    def compute_output_shape(self, input_shape):
        return input_shape[1]


@keras.saving.register_keras_serializable(package="tui_mtl")
class CrossStitchUnit(keras.layers.Layer):
    """K columns in, K out: column i becomes sum_j mix[i, j] * column_j (Misra et al. 2016), with
    mix started at `keep` on the diagonal and the rest of each row shared evenly."""

    def __init__(self, keep: float = 0.9, **kwargs):
        super().__init__(**kwargs)
        self.keep = keep

    def build(self, input_shape):
        k = len(input_shape)
        off = (1.0 - self.keep) / (k - 1) if k > 1 else 0.0
        start = np.full((k, k), off) + np.eye(k) * ((self.keep if k > 1 else 1.0) - off)
        self.mix = self.add_weight(name="mix", shape=(k, k), initializer="zeros")
        self.mix.assign(start.astype("float32"))

    def call(self, inputs):
        stacked = keras.ops.stack(inputs, axis=0)  # [K, B, ...]
        mixed = keras.ops.tensordot(self.mix, stacked, axes=1)
        return [mixed[i] for i in range(len(inputs))]

    def compute_output_shape(self, input_shape):
        return list(input_shape)

    def get_config(self):
        return {**super().get_config(), "keep": self.keep}
