"""Your own model and your own arrays, in the app without a preset file:

    cd examples/own-model && tui-mtl --factory session.py:make

`make()` returns a Session; `tui-mtl --factory` opens the dashboard on it.
"""

import numpy as np

from model import build
from tui_mtl.engine import Session

HEADS = {
    "shape": {"kind": "classification", "units": 3, "logits": True},
    "size": {"kind": "regression"},
    "bright": {"kind": "binary"},
}


def my_arrays(samples: int = 2048, size: int = 16, seed: int = 0):
    """Stand-in for your data: noisy squares; targets named after the heads."""
    rng = np.random.default_rng(seed)
    x = rng.normal(0.0, 0.05, (samples, size, size, 1)).astype("float32")
    shape = rng.integers(0, 3, samples)
    side = rng.integers(3, size // 2, samples)
    bright = rng.integers(0, 2, samples)
    for i in range(samples):
        top, left = rng.integers(0, size - side[i], 2)
        value = 1.0 if bright[i] else 0.5
        if shape[i] == 0:  # a filled square
            x[i, top:top + side[i], left:left + side[i], 0] += value
        elif shape[i] == 1:  # its outline
            x[i, top:top + side[i], left:left + side[i], 0] += value
            x[i, top + 1:top + side[i] - 1, left + 1:left + side[i] - 1, 0] -= value
        else:  # a vertical bar
            x[i, top:top + side[i], left:left + max(1, side[i] // 3), 0] += value
    return x, {"shape": shape, "size": side / size, "bright": bright.astype("float32")}


def make() -> Session:
    return Session.from_model(build(), HEADS, my_arrays(), strategy="grouped",
                              training={"batch_size": 32, "steps": 1000, "validate_every": 100})
