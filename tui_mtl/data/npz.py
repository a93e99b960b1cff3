"""A user's own `.npz` file: an array `x` and one array per head target, equal lengths."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tui_mtl.data.arrays import Arrays
from tui_mtl.errors import DataError


def load_npz(path: str, input_shape: tuple, target_names: list[str], base: Path | None = None) -> Arrays:
    file = Path(path).expanduser()
    if not file.is_absolute() and base is not None:
        file = base / file
    try:
        archive = np.load(file, allow_pickle=False)
    except (OSError, ValueError) as err:
        raise DataError(f"data.params.path: cannot read {file}: {err}") from None
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise DataError(f"data.params.path: {file} holds a single array, not an .npz archive "
                        f"(write one with numpy.savez(path, x=..., <target>=...))")
    with archive:
        if "x" not in archive.files:
            raise DataError(f"{file}: no array named 'x' (found: {', '.join(archive.files) or 'none'})")
        x = _numeric(archive, "x", file).astype(np.float32)
        if x.ndim == len(input_shape) and len(input_shape) == 3 and input_shape[-1] == 1:
            x = x[..., None]  # grayscale images stored without a channel axis
        if tuple(x.shape[1:]) != tuple(input_shape):
            raise DataError(f"{file}: 'x' has samples of shape {tuple(x.shape[1:])}, "
                            f"but model.input_shape is {tuple(input_shape)}")
        if not np.all(np.isfinite(x)):
            raise DataError(f"{file}: 'x' holds NaN or infinite values")
        targets = {}
        for name in target_names:
            if name not in archive.files:
                raise DataError(f"{file}: no array named {name!r} for head target {name!r} "
                                f"(found: {', '.join(archive.files)})")
            y = _numeric(archive, name, file)
            if y.ndim == 0 or len(y) != len(x):
                rows = "a single value" if y.ndim == 0 else f"{len(y)} rows"
                raise DataError(f"{file}: {name!r} has {rows} but 'x' has {len(x)}")
            targets[name] = y
    return Arrays(x, targets)


def _numeric(archive, name: str, file: Path) -> np.ndarray:
    """An array of real numbers (bool, int or float): strings, objects and complex numbers are refused."""
    try:
        array = np.asarray(archive[name])
    except ValueError as err:  # e.g. an object array, which needs pickle
        raise DataError(f"{file}: cannot read array {name!r}: {err}") from None
    if not (np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)
            or array.dtype == np.bool_):
        raise DataError(f"{file}: {name!r} holds {array.dtype} values; it must hold real numbers")
    return array
