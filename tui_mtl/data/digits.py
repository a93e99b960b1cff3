"""Two of scikit-learn's bundled 8x8 digits side by side (works offline).

Targets: `left` and `right` (classes 0-9) and `sum` (0-18). Train and validation pairs are drawn from
disjoint pools of digit images, so validation measures generalisation to unseen digits.
"""

from __future__ import annotations

import numpy as np

from tui_mtl.data.arrays import Arrays

TARGETS = ("left", "right", "sum")


def _pairs(images: np.ndarray, labels: np.ndarray, count: int, rng: np.random.Generator) -> Arrays:
    left = rng.integers(0, len(images), count)
    right = rng.integers(0, len(images), count)
    x = np.concatenate([images[left], images[right]], axis=2)[..., None]
    targets = {
        "left": labels[left].astype(np.int32),
        "right": labels[right].astype(np.int32),
        "sum": (labels[left] + labels[right]).astype(np.float32),
    }
    return Arrays(x.astype(np.float32), targets)


def make_digit_pairs(samples: int, validation_split: float, seed: int) -> tuple[Arrays, Arrays]:
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = (digits.images / 16.0).astype(np.float32)
    labels = digits.target
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(images))
    n_val_pool = max(1, int(round(len(images) * validation_split)))
    val_pool, train_pool = order[:n_val_pool], order[n_val_pool:]
    n_val = max(1, int(round(samples * validation_split)))
    train = _pairs(images[train_pool], labels[train_pool], samples - n_val, rng)
    val = _pairs(images[val_pool], labels[val_pool], n_val, rng)
    return train, val
