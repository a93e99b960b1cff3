"""MultiMNIST and MultiFashion as in Sener & Koltun 2018 (MGDA), after Sabour et al. 2017.

Two 28x28 items on a 36x36 canvas: the `left` one shifted up and left of the centre, the `right` one
down and right, each by 0..max_shift pixels per axis, overlaid with a pixel-wise maximum. The canvas
is resized to model.input_shape (36x36 keeps it; 28x28 is the MGDA paper's size). Targets: `left` and
`right` (10 classes each). Training pairs come from the dataset's training images, validation pairs
from its test images, so validation measures generalisation to unseen items.

The base data comes from the real `keras.datasets` loaders, which download into Keras' cache on first
use. Without network, the one DataError says which file(s) to put in which folder.
"""

from __future__ import annotations

import os
import tempfile

import numpy as np

from tui_mtl.data.arrays import Arrays
from tui_mtl.errors import DataError

TARGETS = ("left", "right")
ITEM = 28
CANVAS = 36
CENTRE = (CANVAS - ITEM) // 2  # 4: an item at this offset sits in the middle of the canvas
ORIGIN = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"

# source -> (keras.datasets module, cache sub-folder of Keras' home, file names the loader looks for)
DATASETS = {
    "multi_mnist": ("mnist", "datasets", ("mnist.npz",)),
    "multi_fashion": ("fashion_mnist", os.path.join("datasets", "fashion-mnist"),
                      ("train-labels-idx1-ubyte.gz", "train-images-idx3-ubyte.gz",
                       "t10k-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz")),
}


def keras_cache_dir(subdir: str = "datasets") -> str:
    """The folder `keras.utils.get_file` reads and writes: $KERAS_HOME (read when Keras is imported, else
    ~/.keras) + subdir, or /tmp/.keras + subdir when that home is not writable."""
    try:
        from keras.src.backend.config import keras_home

        home = keras_home()
    except ImportError:  # pragma: no cover - a Keras without the private accessor
        home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    base = os.path.expanduser(home)
    if not os.access(base, os.W_OK):
        base = os.path.join("/tmp" if os.path.isdir("/tmp") else tempfile.gettempdir(), ".keras")
    return os.path.join(base, subdir)


def load_base(source: str) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """(x_train, y_train), (x_test, y_test) from the real keras.datasets loader, or one clear DataError."""
    import keras

    module, subdir, files = DATASETS[source]
    loader = getattr(keras.datasets, module).load_data
    try:
        return loader()
    except Exception as err:  # noqa: BLE001 - keras raises a bare Exception for a failed download
        folder = keras_cache_dir(subdir)
        reason = " ".join(str(err).split()) or type(err).__name__
        names = " and ".join(", ".join(files).rsplit(", ", 1)) if len(files) > 1 else files[0]
        urls = " ".join(ORIGIN + name for name in files)
        checked = " (the original file: Keras checks its SHA-256)" if module == "mnist" else ""
        raise DataError(
            f"data ({source}): keras.datasets.{module}.load_data() failed ({reason[:200]}). Without network, "
            f"download {urls} on another machine and put {names} in {folder}{checked}; that folder is "
            f"Keras' cache, $KERAS_HOME/{subdir} (default ~/.keras/{subdir})") from None


def overlay_pairs(images: np.ndarray, labels: np.ndarray, count: int, max_shift: int,
                  rng: np.random.Generator) -> tuple[np.ndarray, dict, dict]:
    """`count` canvases [count, 36, 36] (images' dtype), their targets, and what was drawn.

    The drawn record holds the source indices (`left`, `right`) and each item's top-left corner on the
    canvas (`left_at`, `right_at`, [count, 2] as row, column): left in [4 - max_shift, 4], right in
    [4, 4 + max_shift] per axis.
    """
    n = len(images)
    left = rng.integers(0, n, count)
    right = rng.integers(0, n, count)
    left_at = CENTRE - rng.integers(0, max_shift + 1, (count, 2))
    right_at = CENTRE + rng.integers(0, max_shift + 1, (count, 2))
    canvas = np.zeros((count, CANVAS, CANVAS), images.dtype)
    for i in range(count):
        (lr, lc), (rr, rc) = left_at[i], right_at[i]
        canvas[i, lr:lr + ITEM, lc:lc + ITEM] = images[left[i]]
        window = canvas[i, rr:rr + ITEM, rc:rc + ITEM]
        np.maximum(window, images[right[i]], out=window)
    targets = {"left": labels[left].astype(np.int32), "right": labels[right].astype(np.int32)}
    return canvas, targets, {"left": left, "right": right, "left_at": left_at, "right_at": right_at}


def _to_input(canvas: np.ndarray, input_shape: tuple, source: str) -> np.ndarray:
    """uint8 canvases [N, 36, 36] -> float32 in [0, 1] of shape [N, *input_shape]."""
    shape = tuple(input_shape)
    if len(shape) != 3 or shape[2] not in (1, 3):
        raise DataError(f"data ({source}): model.input_shape {list(shape)} must be images [height, width, 1 or 3]; "
                        f"the canvas is [{CANVAS}, {CANVAS}, 1]")
    x = (canvas.astype(np.float32) / 255.0)[..., None]
    if shape[:2] != (CANVAS, CANVAS):
        import tensorflow as tf

        x = tf.image.resize(x, shape[:2], method="bilinear", antialias=True).numpy()
        x = np.clip(x, 0.0, 1.0)
    if shape[2] == 3:
        x = np.repeat(x, 3, axis=-1)
    return np.ascontiguousarray(x, dtype=np.float32)


def make_multi(source: str, samples: int, max_shift: int, input_shape: tuple, validation_split: float,
               seed: int) -> tuple[Arrays, Arrays]:
    (x_train, y_train), (x_test, y_test) = load_base(source)
    if x_train.shape[1:] != (ITEM, ITEM) or x_test.shape[1:] != (ITEM, ITEM):
        raise DataError(f"data ({source}): expected {ITEM}x{ITEM} images from keras.datasets, got "
                        f"{x_train.shape[1:]} and {x_test.shape[1:]}")
    rng = np.random.default_rng(seed)
    n_val = max(1, int(round(samples * validation_split)))
    out = []
    for images, labels, count in ((x_train, y_train, samples - n_val), (x_test, y_test, n_val)):
        canvas, targets, _drawn = overlay_pairs(images, labels, count, max_shift, rng)
        out.append(Arrays(_to_input(canvas, input_shape, source), targets))
    return out[0], out[1]
