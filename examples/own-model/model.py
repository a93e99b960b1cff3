"""A multi-head Keras model as a user would write it: a small residual CNN shared by three heads.

tui-mtl finds the trunk (what every head reaches) and each head's own layers from the graph, so
nothing here is tui-mtl specific: `build()` returns a plain keras.Model whose outputs are named after
the heads of `own-model.toml`.
"""

import keras
from keras import layers


def residual_block(x, filters: int, name: str):
    shortcut = layers.Conv2D(filters, 1, padding="same", name=f"{name}_project")(x)
    y = layers.Conv2D(filters, 3, padding="same", activation="relu", name=f"{name}_conv1")(x)
    y = layers.Conv2D(filters, 3, padding="same", name=f"{name}_conv2")(y)
    return layers.Activation("relu", name=f"{name}_out")(layers.Add(name=f"{name}_add")([shortcut, y]))


def build(size: int = 16, filters: int = 8, features: int = 32) -> keras.Model:
    image = keras.Input(shape=(size, size, 1), name="image")
    x = residual_block(image, filters, "block1")
    x = layers.MaxPooling2D(2, name="pool1")(x)
    x = residual_block(x, 2 * filters, "block2")
    z = layers.Dense(features, activation="relu", name="shared")(layers.GlobalAveragePooling2D(name="gap")(x))

    # the shape head has its own convolutional branch on the feature map, then logits
    branch = layers.Conv2D(filters, 3, padding="same", activation="relu", name="shape_branch")(x)
    branch = layers.GlobalMaxPooling2D(name="shape_pool")(branch)
    shape = layers.Dense(3, name="shape")(layers.Concatenate(name="shape_join")([z, branch]))
    size_out = layers.Dense(1, name="size")(layers.Dense(16, activation="relu", name="size_hidden")(z))
    bright = layers.Dense(1, activation="sigmoid", name="bright")(z)
    return keras.Model(image, {"shape": shape, "size": size_out, "bright": bright}, name="own_model")


if __name__ == "__main__":
    build().summary()
