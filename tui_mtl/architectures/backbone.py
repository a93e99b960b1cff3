"""A keras.applications backbone as one trunk layer (the `application` layer spec).

With ImageNet weights the [0, 1] images are first mapped to what the backbone was trained on, by a
fixed 1x1 convolution (serialisable, so an exported model keeps it): x255 for the backbones that
carry their own preprocessing (MobileNetV3, EfficientNet), [-1, 1] for MobileNetV2, and Caffe's
BGR with the ImageNet mean removed for ResNet50.
"""

from __future__ import annotations

import os
import re

import keras
import numpy as np

from tui_mtl.errors import PresetError

CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)
# name -> (scale, offset per output channel, input channel feeding each output channel)
IMAGENET_INPUT = {
    "MobileNetV3Small": (255.0, (0.0, 0.0, 0.0), (0, 1, 2)),
    "MobileNetV3Large": (255.0, (0.0, 0.0, 0.0), (0, 1, 2)),
    "EfficientNetB0": (255.0, (0.0, 0.0, 0.0), (0, 1, 2)),
    "MobileNetV2": (2.0, (-1.0, -1.0, -1.0), (0, 1, 2)),
    "ResNet50": (255.0, tuple(-m for m in CAFFE_MEAN_BGR), (2, 1, 0)),
}


def build_backbone(spec, name: str, input_shape: tuple) -> keras.Model:
    """The backbone (no classifier top) as a Keras model used like a layer."""
    image = keras.Input(shape=input_shape, name=f"{name}_input")
    x = image
    if spec.weights == "imagenet":
        x = _imagenet_input(spec.name, f"{name}_imagenet_input")(x)
    application = getattr(keras.applications, spec.name)
    try:
        backbone = application(include_top=False, weights=None if spec.weights == "none" else "imagenet",
                               input_shape=input_shape, pooling=None if spec.pooling == "none" else spec.pooling)
    except Exception as err:  # offline, a proxy, a truncated download: say where the file goes
        raise PresetError(_download_message(spec.name, err)) from None
    backbone.trainable = spec.trainable
    return keras.Model(image, backbone(x), name=name)


def _imagenet_input(backbone: str, name: str) -> keras.layers.Layer:
    scale, offsets, sources = IMAGENET_INPUT[backbone]
    kernel = np.zeros((1, 1, 3, 3), np.float32)
    for out, source in enumerate(sources):
        kernel[0, 0, source, out] = scale
    layer = keras.layers.Conv2D(3, 1, name=name, trainable=False)
    layer.build((None, None, None, 3))
    layer.set_weights([kernel, np.asarray(offsets, np.float32)])
    return layer


def _download_message(backbone: str, err: Exception) -> str:
    text = str(err)
    url = re.search(r"https?://\S+?\.h5", text)
    cache = os.path.join(os.environ.get("KERAS_HOME", os.path.join(os.path.expanduser("~"), ".keras")), "models")
    first = text.strip().splitlines()[0][:200] if text.strip() else type(err).__name__
    if url is None:
        return f"model.trunk ({backbone}): keras.applications could not build it: {first}"
    file = url.group(0).rsplit("/", 1)[-1]
    return (f"model.trunk ({backbone}): the ImageNet weights could not be downloaded ({first}); put {file} "
            f"(from {url.group(0)}) in {cache}, or use weights = \"none\"")
