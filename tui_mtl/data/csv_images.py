"""A CSV file listing images: one column of image paths, one column per head target.

The CSV (small) is read here, with every row's values checked and named by line; the images are
decoded and resized to model.input_shape by tf.data, in parallel, when the pipeline runs. With
`check_images` (the default) every image is decoded once when the data is built, so a file that
cannot be decoded is named by row before training starts instead of stopping it later.
"""

from __future__ import annotations

import csv
import math
import re
from pathlib import Path

import numpy as np

from tui_mtl.data.arrays import Arrays
from tui_mtl.errors import DataError

IMAGE_CHANNELS = (1, 3, 4)


def load_csv_images(spec, input_shape: tuple, heads: list, base: Path | None = None) -> Arrays:
    """Arrays whose x holds absolute image paths and whose `decode` turns one into a float32 image."""
    shape = tuple(input_shape)
    if len(shape) != 3 or shape[2] not in IMAGE_CHANNELS:
        raise DataError(f"data (csv_images): model.input_shape {list(shape)} must be images "
                        f"[height, width, channels] with 1, 3 or 4 channels")
    file = Path(spec.csv).expanduser()
    if not file.is_absolute() and base is not None:
        file = base / file
    try:
        with open(file, newline="", encoding="utf-8-sig") as handle:
            reader = csv.reader(handle)
            rows = [(reader.line_num, row) for row in reader]  # line_num: the row's last physical line
    except (OSError, UnicodeDecodeError) as err:
        reason = err.strerror if isinstance(err, OSError) and err.strerror else str(err)
        raise DataError(f"data.params.csv: cannot read {file}: {reason}") from None
    except csv.Error as err:
        raise DataError(f"{file}: not a readable CSV file: {err}") from None
    if not rows or not any(cell.strip() for cell in rows[0][1]):
        raise DataError(f"{file}: empty; the first line must name the columns (e.g. path,label)")
    header = [cell.strip() for cell in rows[0][1]]
    index = {name: i for i, name in enumerate(header)}

    unknown_targets = set(spec.columns) - {h.target_name for h in heads}
    if unknown_targets:
        raise DataError(f"data.params.columns: {', '.join(sorted(unknown_targets))} is no head's target "
                        f"(the heads want: {', '.join(sorted({h.target_name for h in heads}))})")

    def column(name: str, what: str) -> int:
        if name not in index:
            raise DataError(f"{file}: no column {name!r} ({what}); the columns are {', '.join(map(repr, header))}")
        return index[name]

    path_col = column(spec.path_column, "data.params.path_column")
    head_cols = []
    for head in heads:
        if any(h.target_name == head.target_name for h, _n, _c in head_cols):
            continue  # one column per target; load_arrays checks it against every head that uses it
        name = spec.columns.get(head.target_name, head.target_name)
        how = "data.params.columns" if head.target_name in spec.columns else \
            f"head {head.name!r}'s target; map it with data.params.columns"
        head_cols.append((head, name, column(name, how)))

    folder = file.parent
    paths: list[str] = []
    shown: list[tuple[str, str]] = []  # where each image is named (the CSV's line), and as written there
    values: dict[str, list] = {head.target_name: [] for head, _n, _c in head_cols}
    for line, row in rows[1:]:
        if not any(cell.strip() for cell in row):
            continue  # blank lines are not samples
        where = f"{file}, line {line}"
        if len(row) != len(header):
            raise DataError(f"{where}: {len(row)} field(s), but the header has {len(header)}")
        image = row[path_col].strip()
        if not image:
            raise DataError(f"{where}: column {spec.path_column!r} is empty")
        image_file = Path(image).expanduser()
        if not image_file.is_absolute():
            image_file = folder / image_file
        if not image_file.is_file():
            raise DataError(f"{where}: image {image!r} not found ({image_file})")
        paths.append(str(image_file))
        shown.append((where, image))
        for head, name, col in head_cols:
            values[head.target_name].append(cell_value(head, row[col].strip(), f"{where}, column {name!r}"))
    if not paths:
        raise DataError(f"{file}: no rows below the header")
    targets = {name: np.asarray(vals, np.int64 if isinstance(vals[0], int) else np.float32)
               for name, vals in values.items()}
    decode = make_decoder(shape)
    if spec.check_images:
        check_images(paths, shown, decode)
    return Arrays(np.asarray(paths, dtype=str), targets, decode)


def cell_value(head, text: str, where: str):
    """One CSV cell as the head needs it: a class id, a 0/1 or a finite number."""
    try:
        number = float(text)
    except ValueError:
        kind = {"regression": "a number", "binary": "0 or 1",
                "classification": f"a class id 0..{head.units - 1}"}[head.kind]
        raise DataError(f"{where}: {text!r} is not {kind} (head {head.name!r})") from None
    if not math.isfinite(number):
        raise DataError(f"{where}: {text!r} is not a finite number (head {head.name!r})")
    if head.kind == "classification":
        if number != int(number) or not 0 <= number < head.units:
            raise DataError(f"{where}: label {text!r} is outside head {head.name!r}'s classes 0..{head.units - 1}")
        return int(number)
    if head.kind == "binary" and number not in (0.0, 1.0):
        raise DataError(f"{where}: {text!r} is not 0 or 1 (head {head.name!r} is binary)")
    return number


def make_decoder(input_shape: tuple):
    """path -> float32 image in [0, 1] of input_shape: read, decode (PNG/JPEG/GIF/BMP), resize."""
    import tensorflow as tf

    height, width, channels = input_shape

    def decode(path):
        raw = tf.io.read_file(path)
        # decode with the file's own channels (not every format converts, e.g. BMP or GIF to 1), then convert
        image = tf.io.decode_image(raw, channels=0, dtype=tf.float32, expand_animations=False)
        image = _to_channels(tf, image, channels)
        image = tf.image.resize(image, (height, width), method="bilinear", antialias=True)
        return tf.ensure_shape(tf.clip_by_value(image, 0.0, 1.0), (height, width, channels))

    return decode


def _to_channels(tf, image, channels: int):
    """[H, W, 1 gray | 2 gray+alpha | 3 RGB | 4 RGBA] -> [H, W, channels] (1 gray, 3 RGB, 4 RGBA)."""
    have = tf.shape(image)[-1]
    if channels == 1:
        return tf.cond(have < 3, lambda: image[..., :1], lambda: tf.image.rgb_to_grayscale(image[..., :3]))
    color = tf.cond(have < 3, lambda: tf.repeat(image[..., :1], 3, axis=-1), lambda: image[..., :3])
    if channels == 3:
        return color
    alpha = tf.case([(tf.equal(have, 4), lambda: image[..., 3:4]), (tf.equal(have, 2), lambda: image[..., 1:2])],
                    default=lambda: tf.ones_like(image[..., :1]))
    return tf.concat([color, alpha], axis=-1)


def check_images(paths: list[str], shown: list[tuple[str, str]], decode) -> None:
    """Decode every image once, in parallel; a failure becomes a DataError naming the first bad one
    (`shown`: where each image is named, and its name there)."""
    import tensorflow as tf

    ds = (tf.data.Dataset.from_tensor_slices((np.arange(len(paths)), np.asarray(paths)))
          # reduce the pixels: a shape alone is known statically and TensorFlow would never decode
          .map(lambda i, path: (i, tf.reduce_max(decode(path))), num_parallel_calls=tf.data.AUTOTUNE)
          .ignore_errors())
    ok = np.zeros(len(paths), bool)
    for batch, _h in ds.batch(1024).as_numpy_iterator():
        ok[batch] = True
    if ok.all():
        return
    bad = int(np.argmin(ok))
    try:
        decode(tf.constant(paths[bad]))
        reason = "unreadable"
    except (tf.errors.OpError, ValueError) as err:
        reason = " ".join(str(getattr(err, "message", err)).split())
        reason = re.sub(r"\s*\[Op:\w+\].*$", "", re.sub(r"\{\{function_node [^}]*\}\}\s*", "", reason))[:200]
    where, image = shown[bad]
    others = int((~ok).sum()) - 1
    tail = f" (and {others} more image{'s' if others > 1 else ''} that cannot be decoded)" if others else ""
    raise DataError(f"{where}: cannot decode image {image!r}: {reason}{tail}")
