"""In-memory arrays of one data source, split into train and validation."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Arrays:
    x: np.ndarray  # float32 [N, *input_shape]
    targets: dict  # target name -> array [N] (class ids: int32; values: float32)

    def __len__(self) -> int:
        return len(self.x)

    def subset(self, index: np.ndarray) -> "Arrays":
        return Arrays(self.x[index], {k: v[index] for k, v in self.targets.items()})


def split(arrays: Arrays, validation_split: float, seed: int) -> tuple[Arrays, Arrays]:
    order = np.random.default_rng(seed).permutation(len(arrays))
    n_val = max(1, int(round(len(arrays) * validation_split)))
    return arrays.subset(np.sort(order[n_val:])), arrays.subset(np.sort(order[:n_val]))
