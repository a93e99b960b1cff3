"""In-memory arrays of one data source, split into train and validation."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np


@dataclass(frozen=True)
class Arrays:
    """In-memory samples, or (with `decode`) file paths that tf.data reads and decodes lazily."""

    x: np.ndarray  # float32 [N, *input_shape]; with `decode`: str [N], one file path per sample
    targets: dict  # target name -> array [N] (class ids: int32; values: float32)
    # path tensor -> float32 tensor of input_shape, run inside tf.data's parallel map (None: x is in memory)
    decode: Callable | None = None

    def __len__(self) -> int:
        return len(self.x)

    def subset(self, index: np.ndarray) -> "Arrays":
        return Arrays(self.x[index], {k: v[index] for k, v in self.targets.items()}, self.decode)


def split(arrays: Arrays, validation_split: float, seed: int) -> tuple[Arrays, Arrays]:
    order = np.random.default_rng(seed).permutation(len(arrays))
    n_val = max(1, int(round(len(arrays) * validation_split)))
    return arrays.subset(np.sort(order[n_val:])), arrays.subset(np.sort(order[:n_val]))
