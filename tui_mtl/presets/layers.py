"""Trunk layer specs. Each knows its output shape, its parameter count and how to build its Keras
layer, so `presets check`, the picker's summary and the model builder read one definition.

Keras is imported only inside `build`: checking a preset needs no TensorFlow.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, ClassVar, Literal, NamedTuple, Union

from pydantic import BaseModel, ConfigDict, Field

Activation = Literal["relu", "gelu", "tanh", "sigmoid", "elu", "selu", "swish", "linear"]
Shape = tuple[int, ...]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LayerShapeError(ValueError):
    """The layer cannot take its input (a kernel larger than the image, a pool on a vector)."""


class _Layer(Strict):
    type: str  # each layer narrows it to its Literal (the discriminator)
    spatial: ClassVar[bool] = False  # needs an image (height, width, channels)

    def output_shape(self, shape: Shape) -> Shape:
        return shape

    def param_count(self, shape: Shape) -> int:
        return 0

    def short(self) -> str:
        """A few characters for the picker's summary."""
        return self.type.replace("_", "")

    def build(self, name: str) -> Any:
        raise NotImplementedError

    def build_for(self, name: str, input_shape: Shape) -> Any:
        """The Keras layer for inputs of `input_shape` (most layers do not need it)."""
        return self.build(name)

    def check(self, shape: Shape, where: str) -> None:
        if self.spatial and len(shape) != 3:
            raise LayerShapeError(f"{where} needs an image input (height, width, channels); got {shape}")


def _window(size: int, kernel: int, strides: int, padding: str) -> int:
    return math.ceil(size / strides) if padding == "same" else (size - kernel) // strides + 1


class Conv2D(_Layer):
    type: Literal["conv2d"]
    filters: int = Field(gt=0)
    kernel_size: int = Field(default=3, gt=0)
    strides: int = Field(default=1, gt=0)
    padding: Literal["same", "valid"] = "same"
    activation: Activation = "relu"
    spatial: ClassVar[bool] = True

    def check(self, shape, where):
        super().check(shape, where)
        if self.padding == "valid" and self.kernel_size > min(shape[:2]):
            raise LayerShapeError(f"{where}: kernel {self.kernel_size} is larger than its input "
                                  f"{shape[0]}x{shape[1]}")

    def output_shape(self, shape):
        k, s = self.kernel_size, self.strides
        return (_window(shape[0], k, s, self.padding), _window(shape[1], k, s, self.padding), self.filters)

    def param_count(self, shape):
        return self.kernel_size ** 2 * shape[-1] * self.filters + self.filters

    def short(self):
        return f"conv{self.kernel_size}×{self.kernel_size}·{self.filters}"

    def build(self, name):
        import keras

        return keras.layers.Conv2D(self.filters, self.kernel_size, strides=self.strides, padding=self.padding,
                                   activation=self.activation, name=name)


class _Pool(_Layer):
    pool_size: int = Field(default=2, gt=0)
    spatial: ClassVar[bool] = True

    def check(self, shape, where):
        super().check(shape, where)
        if self.pool_size > min(shape[:2]):
            raise LayerShapeError(f"{where}: pool {self.pool_size} is larger than its input {shape[0]}x{shape[1]}")

    def output_shape(self, shape):
        return (shape[0] // self.pool_size, shape[1] // self.pool_size, shape[2])

    def short(self):
        return f"{self.type.split('_')[0]}pool{self.pool_size}"


class MaxPool(_Pool):
    type: Literal["max_pool"]

    def build(self, name):
        import keras

        return keras.layers.MaxPooling2D(self.pool_size, name=name)


class AvgPool(_Pool):
    type: Literal["avg_pool"]

    def build(self, name):
        import keras

        return keras.layers.AveragePooling2D(self.pool_size, name=name)


class GlobalAvgPool(_Layer):
    type: Literal["global_avg_pool"]
    spatial: ClassVar[bool] = True

    def output_shape(self, shape):
        return (shape[-1],)

    def build(self, name):
        import keras

        return keras.layers.GlobalAveragePooling2D(name=name)


class GlobalMaxPool(_Layer):
    type: Literal["global_max_pool"]
    spatial: ClassVar[bool] = True

    def output_shape(self, shape):
        return (shape[-1],)

    def build(self, name):
        import keras

        return keras.layers.GlobalMaxPooling2D(name=name)


class Flatten(_Layer):
    type: Literal["flatten"]

    def output_shape(self, shape):
        return (math.prod(shape),)

    def build(self, name):
        import keras

        return keras.layers.Flatten(name=name)


class Dense(_Layer):
    type: Literal["dense"]
    units: int = Field(gt=0)
    activation: Activation = "relu"

    def output_shape(self, shape):
        return (*shape[:-1], self.units)

    def param_count(self, shape):
        return shape[-1] * self.units + self.units

    def short(self):
        return f"dense{self.units}"

    def build(self, name):
        import keras

        return keras.layers.Dense(self.units, activation=self.activation, name=name)


class Dropout(_Layer):
    type: Literal["dropout"]
    rate: float = Field(ge=0, lt=1)

    def short(self):
        return f"dropout{self.rate:g}"

    def build(self, name):
        import keras

        return keras.layers.Dropout(self.rate, name=name)


class Application(_Layer):
    """A Keras backbone (keras.applications, without its classifier top) as one trunk layer.

    `weights = "imagenet"` downloads the pretrained weights into Keras' cache on first use and then
    scales the [0, 1] images the way the backbone was trained (`imagenet_input`); `trainable = false`
    freezes it (its batch norms then run in inference mode)."""

    type: Literal["application"]
    name: Literal["MobileNetV3Small", "MobileNetV3Large", "MobileNetV2", "EfficientNetB0", "ResNet50"]
    weights: Literal["none", "imagenet"] = "none"
    trainable: bool = True
    pooling: Literal["avg", "max", "none"] = "avg"  # "none" keeps the feature map
    spatial: ClassVar[bool] = True

    def check(self, shape, where):
        super().check(shape, where)
        height, width, channels = shape
        if height % BACKBONE_REDUCTION or width % BACKBONE_REDUCTION or min(height, width) < BACKBONE_REDUCTION:
            raise LayerShapeError(f"{where}: {self.name} takes images whose sides are multiples of "
                                  f"{BACKBONE_REDUCTION} (at least {BACKBONE_REDUCTION}); got {height}x{width}")
        if self.weights == "imagenet" and channels != 3:
            raise LayerShapeError(f"{where}: ImageNet weights take 3 channels (RGB); the input has {channels}; "
                                  f"use weights = \"none\" or colour images")

    def output_shape(self, shape):
        channels = BACKBONES[self.name].channels
        if self.pooling == "none":
            return (shape[0] // BACKBONE_REDUCTION, shape[1] // BACKBONE_REDUCTION, channels)
        return (channels,)

    def param_count(self, shape):
        """Every weight (the frozen ones and batch-norm statistics too), as Keras counts them: only
        the first convolution depends on the input's channels."""
        entry = BACKBONES[self.name]
        fixed_input = 3 * 3 + 3 if self.weights == "imagenet" else 0
        return entry.params_one_channel + (shape[-1] - 1) * entry.params_per_channel + fixed_input

    def short(self):
        return self.name + ("·imagenet" if self.weights == "imagenet" else "") + ("" if self.trainable else "·frozen")

    def build(self, name):
        raise LayerShapeError("an application layer is built for its input shape (build_for)")

    def build_for(self, name, input_shape):
        from tui_mtl.architectures.backbone import build_backbone

        return build_backbone(self, name, tuple(input_shape))


class Backbone(NamedTuple):
    params_one_channel: int  # Keras' count_params() with include_top=False on a 1-channel input
    params_per_channel: int  # added by each further input channel (the first convolution)
    channels: int  # of the output feature map


# measured with keras.applications (Keras 3.15): the same at every input size; ImageNet weights add
# the fixed input layer (`tui_mtl.architectures.backbone`: 3x3 kernel + 3 biases)
BACKBONES = {
    "MobileNetV3Small": Backbone(938_832, 144, 576),
    "MobileNetV3Large": Backbone(2_996_064, 144, 960),
    "MobileNetV2": Backbone(2_257_408, 288, 1280),
    "EfficientNetB0": Backbone(4_048_991, 290, 1280),
    "ResNet50": Backbone(23_581_440, 3_136, 2048),
}
BACKBONE_REDUCTION = 32  # every one halves the image five times


class BatchNorm(_Layer):
    type: Literal["batch_norm"]

    def param_count(self, shape):
        return 4 * shape[-1]  # gamma, beta, moving mean and variance

    def build(self, name):
        import keras

        return keras.layers.BatchNormalization(name=name)


LayerSpec = Annotated[
    Union[Conv2D, MaxPool, AvgPool, GlobalAvgPool, GlobalMaxPool, Flatten, Dense, Dropout, BatchNorm, Application],
    Field(discriminator="type"),
]


def walk_trunk(input_shape: Shape, trunk: list) -> tuple[Shape, int]:
    """The trunk's output shape and parameter count; LayerShapeError names the first layer that
    cannot take its input."""
    shape, params = tuple(input_shape), 0
    for i, layer in enumerate(trunk):
        layer.check(shape, f"trunk[{i}] ({layer.type})")
        params += layer.param_count(shape)
        shape = layer.output_shape(shape)
    return shape, params
