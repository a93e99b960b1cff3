"""Build the Keras functional model from a ModelSpec and know which variables are whose."""

from __future__ import annotations

from dataclasses import dataclass

import keras

from tui_mtl.presets import ModelSpec

TRUNK_PREFIX = "trunk"


@dataclass(frozen=True)
class MultiHeadModel:
    """The Keras model plus the variable groups every strategy needs."""

    model: keras.Model
    trunk_variables: tuple  # trainable variables of the shared trunk
    head_variables: dict  # head name -> tuple of its trainable variables

    @property
    def head_names(self) -> list[str]:
        return list(self.head_variables)


MIXED_POLICIES = {"bf16": "mixed_bfloat16", "fp16": "mixed_float16", "off": "float32"}


def build_model(spec: ModelSpec, seed: int | None = None, mixed_precision: str = "off") -> MultiHeadModel:
    """Functional model with one named output per head; `seed` makes the initial weights repeatable.

    `mixed_precision="bf16"` (or "fp16") computes the trunk and hidden layers in bfloat16 (float16);
    variables and head outputs stay float32.
    """
    if seed is not None:
        keras.utils.set_random_seed(seed)
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(MIXED_POLICIES[mixed_precision])
    try:
        return _build(spec)
    finally:  # the policy is global in Keras: leave it as it was for whatever builds next
        keras.config.set_dtype_policy(previous)


def _build(spec: ModelSpec) -> MultiHeadModel:
    inputs = keras.Input(shape=tuple(spec.input_shape), name="image")
    x = inputs
    trunk_layers = [layer.build(f"{TRUNK_PREFIX}_{i}_{layer.type}") for i, layer in enumerate(spec.trunk)]
    for layer in trunk_layers:
        x = layer(x)
    if len(x.shape) > 2:  # heads are dense: give them a vector
        flatten = keras.layers.Flatten(name=f"{TRUNK_PREFIX}_flatten_out")
        trunk_layers.append(flatten)
        x = flatten(x)
    outputs = {}
    head_variables = {}
    for head in spec.heads:
        y = x
        layers = head.build_layers()
        for layer in layers:
            y = layer(y)
        outputs[head.name] = y
        head_variables[head.name] = tuple(v for layer in layers for v in layer.trainable_variables)
    model = keras.Model(inputs, outputs, name="multi_head")
    trunk_variables = tuple(v for layer in trunk_layers for v in layer.trainable_variables)
    return MultiHeadModel(model, trunk_variables, head_variables)
