"""The `function` source: a user's function (or Session.from_model's data) giving (x, {target: y}).

Arrays are used as they are; a tf.data.Dataset (batched or not) is read once into memory, so the
validation split, the seeded order and the fixed batch shapes work as for every other source.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from tui_mtl.data.arrays import Arrays
from tui_mtl.errors import DataError, PresetError
from tui_mtl.presets.data import FunctionData
from tui_mtl.presets.model_source import SourceKind, parse_model_source

WHERE = "data (function)"


def load_function_data(spec: FunctionData, input_shape: tuple, base_dir: Path | None, given: Any = None) -> Arrays:
    source = parse_model_source(spec.function)
    if source.kind is SourceKind.IN_MEMORY:
        if given is None:
            raise PresetError("data.params.function: this preset's data was handed to Session.from_model in Python "
                              "and cannot be read from the preset; name a function ('data.py:make') instead")
        made = given
    else:
        from tui_mtl.user_code import call

        made = call(source, spec.args, base_dir, "data.params.function")
    return as_arrays(made, tuple(input_shape))


def as_arrays(made: Any, input_shape: tuple) -> Arrays:
    """(x, {target: y}) arrays, or a tf.data.Dataset of them, as in-memory Arrays of float32 x."""
    if _is_dataset(made):
        made = _read_dataset(made, input_shape)
    if not (isinstance(made, tuple) and len(made) == 2 and isinstance(made[1], dict)):
        raise DataError(f"{WHERE}: give (x, {{target: y}}): a tuple of the inputs and a dict of targets by name, "
                        f"not {type(made).__name__}")
    x = np.asarray(made[0], dtype=np.float32)
    if tuple(x.shape[1:]) != input_shape:
        raise DataError(f"{WHERE}: x has samples of shape {list(x.shape[1:])} but the model takes "
                        f"{list(input_shape)}")
    targets = {}
    for name, y in made[1].items():
        y = np.asarray(y)
        if len(y) != len(x):
            raise DataError(f"{WHERE}: target {name!r} has {len(y)} samples and x has {len(x)}")
        targets[str(name)] = y
    return Arrays(x, targets)


def _is_dataset(made: Any) -> bool:
    import sys

    tf = sys.modules.get("tensorflow")
    return tf is not None and isinstance(made, tf.data.Dataset)


def _read_dataset(ds: Any, input_shape: tuple) -> tuple:
    spec = ds.element_spec
    if not (isinstance(spec, tuple) and len(spec) == 2 and isinstance(spec[1], dict)):
        raise DataError(f"{WHERE}: the Dataset's elements must be (x, {{target: y}}), not {spec}")
    if len(spec[0].shape) == len(input_shape) + 1:  # batched: back to samples
        ds = ds.unbatch()
    xs, ys = [], {name: [] for name in spec[1]}
    for x, y in ds.as_numpy_iterator():
        xs.append(x)
        for name, value in y.items():
            ys[name].append(value)
    if not xs:
        raise DataError(f"{WHERE}: the Dataset is empty")
    return np.stack(xs), {name: np.stack(values) for name, values in ys.items()}
