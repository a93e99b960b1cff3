"""Keras' image-folder convention: folder/<class>/<image>, classes in sorted order (as
keras.utils.image_dataset_from_directory numbers them) for one classification head, and optionally a
CSV of per-image targets for the other heads. Images are decoded by tf.data as for csv_images."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from tui_mtl.data.arrays import Arrays
from tui_mtl.data.csv_images import IMAGE_CHANNELS, cell_value, check_images, make_decoder
from tui_mtl.errors import DataError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".bmp")


def load_image_folder(spec, input_shape: tuple, heads: list, base: Path | None = None) -> Arrays:
    shape = tuple(input_shape)
    if len(shape) != 3 or shape[2] not in IMAGE_CHANNELS:
        raise DataError(f"data (image_folder): model.input_shape {list(shape)} must be images "
                        f"[height, width, channels] with 1, 3 or 4 channels")
    folder = _resolve(spec.folder, base)
    if not folder.is_dir():
        raise DataError(f"data.params.folder: no such folder {folder}")
    classes = sorted(p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not classes:
        raise DataError(f"data.params.folder: {folder} has no class subfolders (folder/<class>/<image>)")
    head = _class_head(spec, heads)
    if head.units != len(classes):
        raise DataError(f"data (image_folder): {folder} has {len(classes)} class folders "
                        f"({_listed(classes)}) but head {head.name!r} has units = {head.units}")
    paths, labels, names = [], [], []
    for label, name in enumerate(classes):
        for image in sorted(p for p in (folder / name).rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES):
            paths.append(str(image))
            labels.append(label)
            names.append(image.relative_to(folder).as_posix())
    if not paths:
        raise DataError(f"data.params.folder: no images ({', '.join(IMAGE_SUFFIXES)}) under {folder}")
    targets = {head.target_name: np.asarray(labels, np.int64)}
    if spec.targets_csv:
        targets.update(_csv_targets(spec, base, names, [h for h in heads if h.target_name != head.target_name]))
    decode = make_decoder(shape)
    if spec.check_images:
        check_images(paths, [(f"{folder}", name) for name in names], decode)
    return Arrays(np.asarray(paths, dtype=str), targets, decode)


def _resolve(path: str, base: Path | None) -> Path:
    full = Path(path).expanduser()
    return full if full.is_absolute() or base is None else base / full


def _class_head(spec, heads: list):
    if spec.head is not None:
        for head in heads:
            if head.name == spec.head:
                if head.kind != "classification":
                    raise DataError(f"data.params.head: head {head.name!r} is a {head.kind} head; the class "
                                    f"subfolders label a classification head")
                return head
        raise DataError(f"data.params.head: no head {spec.head!r} (heads: {', '.join(h.name for h in heads)})")
    found = [h for h in heads if h.kind == "classification"]
    if len(found) != 1:
        raise DataError(f"data.params.head: name the classification head the class subfolders label "
                        f"({'no classification head' if not found else 'one of ' + ', '.join(h.name for h in found)})")
    return found[0]


def _csv_targets(spec, base: Path | None, names: list[str], heads: list) -> dict:
    """The other heads' targets from the CSV, one row per image (its path relative to the folder)."""
    file = _resolve(spec.targets_csv, base)
    try:
        with open(file, newline="", encoding="utf-8-sig") as handle:
            reader = csv.reader(handle)
            rows = [(reader.line_num, row) for row in reader]
    except (OSError, UnicodeDecodeError) as err:
        reason = err.strerror if isinstance(err, OSError) and err.strerror else str(err)
        raise DataError(f"data.params.targets_csv: cannot read {file}: {reason}") from None
    if not rows:
        raise DataError(f"{file}: empty; the first line must name the columns (e.g. path,size)")
    header = [cell.strip() for cell in rows[0][1]]
    if spec.path_column not in header:
        raise DataError(f"{file}: no column {spec.path_column!r} (data.params.path_column); the columns are "
                        f"{', '.join(map(repr, header))}")
    path_col = header.index(spec.path_column)
    by_path = {}
    for line, row in rows[1:]:
        if any(cell.strip() for cell in row):
            if len(row) != len(header):
                raise DataError(f"{file}, line {line}: {len(row)} field(s), but the header has {len(header)}")
            by_path[Path(row[path_col].strip()).as_posix()] = (line, row)
    targets = {}
    for head in heads:
        if head.target_name not in header or head.target_name in targets:
            continue  # a head the CSV does not cover is reported by load_arrays, by name
        col, values = header.index(head.target_name), []
        for name in names:
            if name not in by_path:
                raise DataError(f"{file}: no row for image {name!r} (head {head.name!r} needs its target)")
            line, row = by_path[name]
            values.append(cell_value(head, row[col].strip(), f"{file}, line {line}, column {head.target_name!r}"))
        targets[head.target_name] = np.asarray(values, np.int64 if head.kind == "classification" else np.float32)
    return targets


def _listed(names: list[str]) -> str:
    return ", ".join(names[:5]) + (", …" if len(names) > 5 else "")
