"""Procedurally drawn shapes: one shape per image, every property a target.

Targets: `shape` (0 square, 1 circle, 2 triangle), `size` (half-width as a fraction of the image),
`x`, `y` (centre, 0..1), `intensity` (0.3..1), `bright` (intensity > 0.65, binary).
`target_scales` multiplies regression targets, which is how a preset makes one loss ~1000x another.
"""

from __future__ import annotations

import numpy as np

from tui_mtl.data.arrays import Arrays
from tui_mtl.errors import DataError

TARGETS = ("shape", "size", "x", "y", "intensity", "bright")
REGRESSION_TARGETS = ("size", "x", "y", "intensity")


def make_shapes(image_size: int, samples: int, noise: float, target_scales: dict, seed: int) -> Arrays:
    unknown = set(target_scales) - set(REGRESSION_TARGETS)
    if unknown:
        raise DataError(f"data.params.target_scales: unknown target(s) {sorted(unknown)}; "
                        f"scalable targets are {', '.join(REGRESSION_TARGETS)}")
    rng = np.random.default_rng(seed)
    shape = rng.integers(0, 3, samples).astype(np.int32)
    size = rng.uniform(0.12, 0.3, samples).astype(np.float32)
    cx = rng.uniform(size, 1 - size).astype(np.float32)
    cy = rng.uniform(size, 1 - size).astype(np.float32)
    intensity = rng.uniform(0.3, 1.0, samples).astype(np.float32)

    grid = (np.arange(image_size, dtype=np.float32) + 0.5) / image_size
    gx = grid[None, None, :]
    gy = grid[None, :, None]
    dx = gx - cx[:, None, None]
    dy = gy - cy[:, None, None]
    r = size[:, None, None]
    square = (np.abs(dx) <= r) & (np.abs(dy) <= r)
    circle = dx * dx + dy * dy <= r * r
    triangle = (np.abs(dy) <= r) & (np.abs(dx) <= (dy + r) / 2)  # apex at the top
    kind = shape[:, None, None]
    mask = np.where(kind == 0, square, np.where(kind == 1, circle, triangle))
    images = mask * intensity[:, None, None]
    images = images + rng.normal(0.0, noise, images.shape) if noise > 0 else images
    x = images.astype(np.float32)[..., None]

    def scaled(name: str, values: np.ndarray) -> np.ndarray:
        return (values * np.float32(target_scales.get(name, 1.0))).astype(np.float32)

    targets = {
        "shape": shape,
        "size": scaled("size", size),
        "x": scaled("x", cx),
        "y": scaled("y", cy),
        "intensity": scaled("intensity", intensity),
        "bright": (intensity > 0.65).astype(np.float32),
    }
    return Arrays(x, targets)
