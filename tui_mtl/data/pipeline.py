"""From a preset's [data] to tf.data pipelines of (x, {head name: y}) with fixed batch shapes."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from tui_mtl.data.arrays import Arrays, split
from tui_mtl.errors import DataError
from tui_mtl.presets import HeadSpec, Preset


@dataclass
class DataSplits:
    make_train: Callable[[], Any]  # a new tf.data pipeline: infinite, shuffled per the preset, fixed batches
    validation: Any  # tf.data.Dataset: finite, cached, batched with drop_remainder
    train_size: int
    validation_size: int
    _train: Any = field(default=None, repr=False)

    @property
    def train(self) -> Any:
        """The training pipeline (built once)."""
        if self._train is None:
            self._train = self.make_train()
        return self._train

    def fresh_train(self) -> Any:
        """A new pipeline: its first pass has the order a new session's has. A second iterator over the
        same pipeline would be shuffled differently (the seed's generator moves on), so a restart, or a
        resume inside one process, takes a fresh one."""
        return self.make_train()


def _raw_splits(preset: Preset, base_dir: Path | None, given: Any = None) -> tuple[Arrays, Arrays]:
    data = preset.data
    spec = data.source_spec
    targets = sorted({h.target_name for h in preset.model.heads})
    if spec.source == "shapes":
        from tui_mtl.data.shapes import make_shapes

        arrays = make_shapes(spec.image_size, spec.samples, spec.noise, spec.target_scales, data.seed)
        return split(arrays, data.validation_split, data.seed)
    if spec.source == "digits":
        from tui_mtl.data.digits import make_digit_pairs

        return make_digit_pairs(spec.samples, data.validation_split, data.seed)
    if spec.source in ("multi_mnist", "multi_fashion"):
        from tui_mtl.data.multi_mnist import make_multi

        return make_multi(spec.source, spec.samples, spec.max_shift, preset.model.input_shape,
                          data.validation_split, data.seed)
    if spec.source == "csv_images":
        from tui_mtl.data.csv_images import load_csv_images

        arrays = load_csv_images(spec, preset.model.input_shape, preset.model.heads, base_dir)
        return split(arrays, data.validation_split, data.seed)
    if spec.source == "image_folder":
        from tui_mtl.data.image_folder import load_image_folder

        arrays = load_image_folder(spec, preset.model.described_input_shape, preset.model.heads, base_dir)
        return split(arrays, data.validation_split, data.seed)
    if spec.source == "function":
        from tui_mtl.data.function import load_function_data

        arrays = load_function_data(spec, preset.model.described_input_shape, base_dir, given)
        return split(arrays, data.validation_split, data.seed)
    from tui_mtl.data.npz import load_npz

    arrays = load_npz(spec.path, preset.model.input_shape, targets, base_dir)
    return split(arrays, data.validation_split, data.seed)


def _labels_for(head: HeadSpec, values: np.ndarray, where: str) -> np.ndarray:
    if head.kind == "classification":
        if not np.issubdtype(values.dtype, np.integer) and not np.all(np.mod(values, 1) == 0):
            raise DataError(f"{where}: head {head.name!r} is a classification head but its target has "
                            f"non-integer values")
        if values.size != len(values):
            raise DataError(f"{where}: head {head.name!r} is a classification head, so its target holds one "
                            f"class id per sample, not an array of shape {values.shape[1:]}")
        values = values.reshape(len(values))
        bad = values[(values < 0) | (values >= head.units)]  # before the cast, which would wrap big ids
        if bad.size:
            raise DataError(f"{where}: head {head.name!r} has {head.units} classes but its target holds "
                            f"label {int(bad[0])}")
        return values.astype(np.int32)
    values = values.astype(np.float32).reshape(len(values), -1)
    if values.shape[1] != head.units:
        raise DataError(f"{where}: head {head.name!r} outputs {head.units} value(s) per sample but its target "
                        f"has {values.shape[1]}")
    if head.kind == "binary" and not np.all((values == 0) | (values == 1)):
        raise DataError(f"{where}: head {head.name!r} is binary but its target holds values other than 0 and 1")
    if not np.all(np.isfinite(values)):
        raise DataError(f"{where}: head {head.name!r}'s target holds NaN or infinite values")
    return values


def load_arrays(preset: Preset, base_dir: Path | None = None, given: Any = None) -> tuple[Arrays, Arrays]:
    """Train and validation arrays whose targets are keyed by head name, in the dtype each loss wants.
    `given`: the data a Session.from_model was handed (a `function` source naming IN_MEMORY)."""
    train, val = _raw_splits(preset, base_dir, given)
    if len(train) == 0:
        raise DataError(f"data ({preset.data.source}): {len(train) + len(val)} sample(s) leave none for "
                        f"training after the validation split of {preset.data.validation_split}")
    available = set(train.targets)
    where = f"data ({preset.data.source})"
    out = []
    for arrays in (train, val):
        targets = {}
        for head in preset.model.heads:
            if head.target_name not in available:
                raise DataError(f"model.heads: head {head.name!r} wants target {head.target_name!r}, which the "
                                f"{preset.data.source} source does not have (it has: {', '.join(sorted(available))})")
            targets[head.name] = _labels_for(head, arrays.targets[head.target_name], where)
        out.append(Arrays(arrays.x, targets, arrays.decode))
    return out[0], out[1]


def build_data(preset: Preset, base_dir: Path | None = None, given: Any = None) -> DataSplits:
    import tensorflow as tf

    train, val = load_arrays(preset, base_dir, given)
    batch = preset.training.batch_size
    seed = preset.data.seed if preset.data.order_seed is None else preset.data.order_seed

    def make_train():
        ds = tf.data.Dataset.from_tensor_slices((train.x, train.targets))
        if preset.data.shuffle:  # file sources shuffle their paths: a cheap buffer, decoded after
            ds = ds.shuffle(len(train), seed=seed, reshuffle_each_iteration=True)
        # Repeat before batching and drop the remainder: every batch has one shape, so nothing retraces.
        ds = _decoded(ds.repeat(), train.decode)
        return ds.batch(batch, drop_remainder=True).prefetch(tf.data.AUTOTUNE)

    val_batch = min(batch, len(val))
    val_ds = (_decoded(tf.data.Dataset.from_tensor_slices((val.x, val.targets)), val.decode)
              .batch(val_batch, drop_remainder=True)
              .take(preset.training.validation_batches)
              .cache())
    return DataSplits(make_train, val_ds, len(train), len(val))


def _decoded(ds, decode):
    """Decode file paths into images in parallel (order kept, so a seed gives the same batches)."""
    if decode is None:
        return ds
    import tensorflow as tf

    return ds.map(lambda path, y: (decode(path), y), num_parallel_calls=tf.data.AUTOTUNE)
