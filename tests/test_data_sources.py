"""The csv_images source (files made here) and MultiMNIST / MultiFashion (a tiny Keras cache made here)."""

from __future__ import annotations

import gzip
import struct
import urllib.error

import numpy as np
import pytest

from conftest import tiny_preset
from tui_mtl.data import build_data, load_arrays
from tui_mtl.errors import DataError
from tui_mtl.presets import Preset

# --- csv_images ------------------------------------------------------------------------------

ROWS = 20  # 15 for training, 5 for validation


def write_image(path, value: float, size=(10, 12), channels=1, fmt="png") -> None:
    """A constant image: after any resize every pixel is still `value`, which identifies the row."""
    import tensorflow as tf

    pixels = np.full((*size, channels), round(value * 255), np.uint8)
    data = tf.io.encode_png(pixels) if fmt == "png" else tf.io.encode_jpeg(pixels, quality=100)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.numpy())


def row_value(i: int) -> float:
    return (i + 1) * 10 / 255  # exact after the uint8 round trip


def make_csv(folder, rows=ROWS, header=("path", "shape", "size", "bright"), edit=None) -> list[list[str]]:
    """img/i.png (one a JPEG, one RGB) with shape = i % 3, size = i / 4, bright = i % 2."""
    lines = [list(header)]
    for i in range(rows):
        name = f"img/{i}.jpg" if i == 3 else f"img/{i}.png"
        write_image(folder / name, row_value(i), channels=3 if i == 5 else 1, fmt="jpeg" if i == 3 else "png")
        lines.append([name, str(i % 3), str(i / 4), str(i % 2)])
    if edit:
        edit(lines)
    (folder / "data.csv").write_text("\n".join(",".join(line) for line in lines) + "\n", encoding="utf-8")
    return lines


def csv_preset(shuffle=False, **params) -> Preset:
    return tiny_preset(data={"source": "csv_images", "params": {"csv": "data.csv", **params}, "shuffle": shuffle,
                             "seed": 0, "validation_split": 0.25},
                       training={"batch_size": 4, "validation_batches": 1})


def test_csv_images_are_decoded_by_tf_data_in_batches_of_fixed_shape(tmp_path):
    import tensorflow as tf

    make_csv(tmp_path)
    preset = csv_preset()
    train, val = load_arrays(preset, base_dir=tmp_path)
    assert len(train) == 15 and len(val) == 5
    assert train.x.dtype.kind == "U" and train.decode is not None  # paths: nothing decoded in Python
    splits = build_data(preset, base_dir=tmp_path)
    x_spec, y_spec = splits.train.element_spec
    assert x_spec.shape.as_list() == [4, 8, 8, 1] and x_spec.dtype == tf.float32
    assert y_spec["shape"].dtype == tf.int32 and y_spec["size"].shape.as_list() == [4, 1]
    seen = {}
    for x, y in list(splits.train.take(8)) + list(splits.validation):
        x = x.numpy()
        for j in range(len(x)):
            # a constant 10x12 image resized to 8x8 is still constant: its value names the CSV row
            i = int(round(x[j].mean() * 255 / 10)) - 1
            # 3: JPEG; 5: RGB -> gray
            np.testing.assert_allclose(x[j], row_value(i), atol=1.5 / 255 if i == 3 else 1e-4)
            assert y["shape"].numpy()[j] == i % 3
            assert y["size"].numpy()[j, 0] == pytest.approx(i / 4)
            assert y["bright"].numpy()[j, 0] == i % 2
            seen[i] = seen.get(i, 0) + 1
    def rows(arrays):
        return {int(path.rsplit("/", 1)[1].split(".")[0]) for path in arrays.x}

    assert rows(train) <= set(seen)  # every training row came through (8 batches of 4 > 15 rows)
    assert len(set(seen) & rows(val)) == 4  # one validation batch of 4 of the 5 validation rows
    assert len(list(splits.validation)) == 1


def test_csv_images_split_and_shuffle_follow_the_seed(tmp_path):
    make_csv(tmp_path)

    def first(seed):
        preset = csv_preset(shuffle=True).with_changes(data={"seed": seed})
        return next(iter(build_data(preset, base_dir=tmp_path).train))[0].numpy()

    np.testing.assert_array_equal(first(1), first(1))
    assert not np.array_equal(first(1), first(2))


def test_csv_images_columns_map_targets_and_paths_may_be_absolute(tmp_path):
    def rename(lines):
        lines[0] = ["file", "kind", "size", "bright"]
        lines[1][0] = str(tmp_path / "sub" / lines[1][0])

    make_csv(tmp_path / "sub", edit=rename)
    preset = csv_preset(csv=str(tmp_path / "sub" / "data.csv"), path_column="file", columns={"shape": "kind"})
    train, val = load_arrays(preset)
    labels = np.concatenate([train.targets["shape"], val.targets["shape"]])
    assert sorted(labels.tolist()) == sorted(i % 3 for i in range(ROWS))


def _set(row: int, col: int, value: str):
    """Change lines[row][col]: row 0 is the header (line 1), row k is line k + 1."""

    def edit(lines):
        lines[row][col] = value
    return edit


@pytest.mark.parametrize("edit, params, expected", [
    (None, {"csv": "nope.csv"}, r"data.params.csv: cannot read .*nope.csv: No such file"),
    (_set(4, 0, "img/missing.png"), {}, r"data.csv, line 5: image 'img/missing.png' not found"),
    (None, {"path_column": "file"}, r"data.csv: no column 'file' \(data.params.path_column\); the columns are "
                                    r"'path', 'shape', 'size', 'bright'"),
    (_set(0, 2, "area"), {}, r"data.csv: no column 'size' \(head 'size''s target; map it with data.params.columns\)"),
    (None, {"columns": {"size": "area"}}, r"no column 'area' \(data.params.columns\)"),
    (None, {"columns": {"colour": "shape"}}, r"data.params.columns: colour is no head's target"),
    (_set(6, 2, "big"), {}, r"data.csv, line 7, column 'size': 'big' is not a number \(head 'size'\)"),
    (_set(7, 2, "inf"), {}, r"line 8, column 'size': 'inf' is not a finite number"),
    (_set(2, 1, "3"), {}, r"line 3, column 'shape': label '3' is outside head 'shape''s classes 0..2"),
    (_set(2, 1, "-1"), {}, r"label '-1' is outside"),
    (_set(2, 1, "1.5"), {}, r"label '1.5' is outside"),
    (_set(3, 1, "circle"), {}, r"line 4, column 'shape': 'circle' is not a class id 0..2"),
    (_set(5, 3, "0.5"), {}, r"line 6, column 'bright': '0.5' is not 0 or 1"),
    (lambda lines: lines[9].append("x"), {}, r"line 10: 5 field\(s\), but the header has 4"),
    (lambda lines: lines.__delitem__(slice(1, None)), {}, r"data.csv: no rows below the header"),
    (_set(3, 0, " "), {}, r"line 4: column 'path' is empty"),
], ids=["missing-csv", "missing-image", "unknown-path-column", "missing-target-column", "unknown-mapped-column",
        "mapping-for-no-head", "non-numeric", "infinite", "label-too-big", "label-negative", "label-fraction",
        "label-name", "binary-not-01", "extra-field", "no-rows", "empty-path"])
def test_csv_problems_are_clear_data_errors(tmp_path, edit, params, expected):
    make_csv(tmp_path, edit=edit)
    with pytest.raises(DataError, match=expected) as info:
        load_arrays(csv_preset(**params), base_dir=tmp_path)
    assert "\n" not in str(info.value)


def test_an_image_that_cannot_be_decoded_is_named_by_row_before_training(tmp_path):
    make_csv(tmp_path)
    (tmp_path / "img" / "7.png").write_bytes(b"not an image at all")
    (tmp_path / "img" / "11.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    with pytest.raises(DataError) as info:
        build_data(csv_preset(), base_dir=tmp_path)
    message = str(info.value)
    assert "data.csv, line 9: cannot decode image 'img/7.png'" in message, message
    assert "(and 1 more image that cannot be decoded)" in message and "\n" not in message
    # check_images = false skips the up-front pass: TensorFlow's own error then stops the pipeline
    splits = build_data(csv_preset(check_images=False), base_dir=tmp_path)
    import tensorflow as tf

    with pytest.raises(tf.errors.InvalidArgumentError):
        list(splits.train.take(5))


@pytest.mark.parametrize("have, want", [(1, 3), (1, 4), (2, 1), (3, 1), (3, 4), (4, 3), (4, 1)])
def test_images_are_converted_to_the_model_s_channels(tmp_path, have, want):
    import tensorflow as tf

    from tui_mtl.data.csv_images import make_decoder

    rng = np.random.default_rng(have)
    pixels = rng.integers(0, 256, (6, 6, have)).astype(np.uint8)
    (tmp_path / "a.png").write_bytes(tf.io.encode_png(pixels).numpy())
    image = make_decoder((6, 6, want))(tf.constant(str(tmp_path / "a.png"))).numpy()
    assert image.shape == (6, 6, want)
    values = pixels.astype(np.float32) / 255
    color = values[..., :3] if have >= 3 else np.repeat(values[..., :1], 3, axis=-1)
    if want == 1:
        expected = values[..., :1] if have < 3 else color @ np.array([[0.2989], [0.587], [0.114]], np.float32)
    else:
        alpha = values[..., have - 1:] if have in (2, 4) else np.ones_like(values[..., :1])
        expected = color if want == 3 else np.concatenate([color, alpha], axis=-1)
    np.testing.assert_allclose(image, expected, atol=1e-3)


def test_an_empty_csv_and_an_image_input_shape_are_required(tmp_path):
    (tmp_path / "data.csv").write_text("", encoding="utf-8")
    with pytest.raises(DataError, match="data.csv: empty; the first line must name the columns"):
        load_arrays(csv_preset(), base_dir=tmp_path)
    flat = csv_preset().with_changes(model={"input_shape": [64], "trunk": [{"type": "dense", "units": 4}]})
    with pytest.raises(DataError, match=r"input_shape \[64\] must be images"):
        load_arrays(flat, base_dir=tmp_path)


# --- MultiMNIST / MultiFashion -----------------------------------------------------------------


@pytest.fixture
def keras_home(tmp_path, monkeypatch):
    """An empty Keras cache and no network.

    Keras reads KERAS_HOME once, when it is imported (keras/src/backend/config.py), and get_file asks
    config.keras_home() on each call: so the test sets both. Downloads fail like a machine offline.
    """
    import keras.src.backend.config as keras_config
    import keras.src.utils.file_utils as file_utils

    home = tmp_path / "keras-home"
    home.mkdir()
    monkeypatch.setenv("KERAS_HOME", str(home))
    monkeypatch.setattr(keras_config, "_KERAS_DIR", str(home))

    def offline(url, *args, **kwargs):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(file_utils, "urlretrieve", offline)
    return home


def fake_items(n: int, first_id: int) -> tuple[np.ndarray, np.ndarray]:
    """Black 28x28 images whose top-left pixel is a unique id; label = id % 10."""
    ids = np.arange(first_id, first_id + n)
    x = np.zeros((n, 28, 28), np.uint8)
    x[:, 0, 0] = ids
    x[:, 27, 27] = 255  # the brightest pixel: 1.0 after scaling
    return x, (ids % 10).astype(np.uint8)


TRAIN_IDS, TEST_IDS = 1, 101  # ids 1..50 for training images, 101..120 for test images


def write_fake_mnist(home, monkeypatch):
    """mnist.npz as keras.datasets.mnist.load_data() reads it, in $KERAS_HOME/datasets."""
    import keras.src.utils.file_utils as file_utils

    (x_train, y_train), (x_test, y_test) = fake_items(50, TRAIN_IDS), fake_items(20, TEST_IDS)
    (home / "datasets").mkdir(exist_ok=True)
    np.savez(home / "datasets" / "mnist.npz", x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    # Keras checks the real file's SHA-256 and would re-download (and delete) any other file: our fake
    # file passes the check, the rest of the real loader (cache path, file name, np.load) runs as is.
    monkeypatch.setattr(file_utils, "validate_file", lambda *args, **kwargs: True)


def write_fake_fashion(home) -> None:
    """The four idx gz files keras.datasets.fashion_mnist.load_data() reads, in datasets/fashion-mnist."""
    folder = home / "datasets" / "fashion-mnist"
    folder.mkdir(parents=True)
    for prefix, (x, y) in (("train", fake_items(50, TRAIN_IDS)), ("t10k", fake_items(20, TEST_IDS))):
        with gzip.open(folder / f"{prefix}-labels-idx1-ubyte.gz", "wb") as f:
            f.write(struct.pack(">II", 2049, len(y)) + y.tobytes())
        with gzip.open(folder / f"{prefix}-images-idx3-ubyte.gz", "wb") as f:
            f.write(struct.pack(">IIII", 2051, len(x), 28, 28) + x.tobytes())


def multi_preset(source="multi_mnist", input_shape=(36, 36, 1), samples=40, max_shift=4) -> Preset:
    return tiny_preset(
        model={"input_shape": list(input_shape), "heads": [
            {"name": "left", "kind": "classification", "units": 10},
            {"name": "right", "kind": "classification", "units": 10}]},
        data={"source": source, "params": {"samples": samples, "max_shift": max_shift}, "seed": 3,
              "validation_split": 0.25})


def recover(canvas: np.ndarray):
    """The two items' ids and top-left corners, from their id pixels (the only other lit pixels are 255)."""
    found = []
    for r, c in zip(*np.nonzero((canvas > 0) & (canvas < 250 / 255))):
        found.append((int(round(canvas[r, c] * 255)), (int(r), int(c))))
    found.sort(key=lambda item: item[1])
    return found


@pytest.mark.parametrize("source", ["multi_mnist", "multi_fashion"])
def test_multi_items_are_built_from_the_keras_cache_as_in_the_paper(keras_home, monkeypatch, source):
    if source == "multi_mnist":
        write_fake_mnist(keras_home, monkeypatch)
    else:
        write_fake_fashion(keras_home)
    train, val = load_arrays(multi_preset(source), base_dir=None)
    assert train.x.shape == (30, 36, 36, 1) and val.x.shape == (10, 36, 36, 1)
    assert train.x.dtype == np.float32 and train.x.min() == 0.0 and train.x.max() == 1.0
    for arrays, ids in ((train, range(TRAIN_IDS, TRAIN_IDS + 50)), (val, range(TEST_IDS, TEST_IDS + 20))):
        assert arrays.targets["left"].dtype == np.int32
        checked = 0
        for i in range(len(arrays)):
            found = recover(arrays.x[i, :, :, 0])
            if len(found) != 2:  # both items at the centre: one id pixel hides the other
                continue
            (left_id, left_at), (right_id, right_at) = found
            assert left_id in ids and right_id in ids  # training pairs from x_train, validation from x_test
            assert all(0 <= v <= 4 for v in left_at) and all(4 <= v <= 8 for v in right_at)
            assert arrays.targets["left"][i] == left_id % 10  # the labels of the items used
            assert arrays.targets["right"][i] == right_id % 10
            checked += 1
        assert checked >= len(arrays) * 0.7


def test_overlay_places_items_up_left_and_down_right_and_keeps_the_brightest_pixel():
    from tui_mtl.data.multi_mnist import overlay_pairs

    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (12, 28, 28)).astype(np.uint8)
    labels = np.arange(12) % 10
    canvas, targets, drawn = overlay_pairs(images, labels, 50, 4, np.random.default_rng(1))
    assert canvas.shape == (50, 36, 36) and canvas.dtype == np.uint8
    assert drawn["left_at"].min() == 0 and drawn["left_at"].max() == 4  # up to 4 px up-left of the centre
    assert drawn["right_at"].min() == 4 and drawn["right_at"].max() == 8  # up to 4 px down-right
    for i in range(50):
        expected = np.zeros((36, 36), np.uint8)
        (lr, lc), (rr, rc) = drawn["left_at"][i], drawn["right_at"][i]
        expected[lr:lr + 28, lc:lc + 28] = images[drawn["left"][i]]
        region = expected[rr:rr + 28, rc:rc + 28]
        expected[rr:rr + 28, rc:rc + 28] = np.maximum(region, images[drawn["right"][i]])
        np.testing.assert_array_equal(canvas[i], expected)
        assert targets["left"][i] == labels[drawn["left"][i]] and targets["right"][i] == labels[drawn["right"][i]]
    fixed, _t, drawn = overlay_pairs(images, labels, 5, 0, np.random.default_rng(1))
    assert (drawn["left_at"] == 4).all() and (drawn["right_at"] == 4).all()


def test_multi_mnist_resizes_to_the_model_input_and_trains(keras_home, monkeypatch):
    write_fake_mnist(keras_home, monkeypatch)
    train, _val = load_arrays(multi_preset(input_shape=(28, 28, 3)))
    assert train.x.shape == (30, 28, 28, 3) and 0 <= train.x.min() and train.x.max() <= 1
    np.testing.assert_array_equal(train.x[..., 0], train.x[..., 2])


@pytest.mark.parametrize("source, names, folder", [
    ("multi_mnist", ["mnist.npz"], "datasets"),
    ("multi_fashion", ["train-labels-idx1-ubyte.gz", "train-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz",
                       "t10k-images-idx3-ubyte.gz"], "datasets/fashion-mnist"),
])
def test_offline_without_the_file_one_message_says_what_to_put_where(keras_home, source, names, folder):
    with pytest.raises(DataError) as info:
        load_arrays(multi_preset(source))
    message = str(info.value)
    assert "\n" not in message
    assert f"in {keras_home / folder}" in message, message
    for name in names:
        assert name in message
    assert "Temporary failure in name resolution" in message  # the reason, not hidden
    assert not list((keras_home / folder).glob("*.npz"))  # nothing half-written left behind


def test_source_params_are_validated_with_the_preset():
    import tomli_w

    from tui_mtl.errors import PresetError
    from tui_mtl.presets import parse_preset

    preset = csv_preset(columns={"shape": "kind"}, path_column="file")
    assert parse_preset(preset.to_toml()) == preset
    for params, expected in (({"csv": "d.csv", "colums": {}}, "data.params.colums: Extra inputs"),
                             ({}, "data.params.csv: Field required"),
                             ({"csv": "d.csv", "check_images": "maybe"}, "data.params.check_images")):
        data = csv_preset().model_dump(mode="json", exclude_none=True)
        data["data"]["params"] = params
        with pytest.raises(PresetError, match=expected):
            parse_preset(tomli_w.dumps(data))
    with pytest.raises(PresetError, match="data.params.max_shift: Input should be less than or equal to 4"):
        data = multi_preset().model_dump(mode="json", exclude_none=True)
        data["data"]["params"]["max_shift"] = 5
        parse_preset(tomli_w.dumps(data))


def test_the_schema_knows_the_multi_sources_targets():
    import tomli_w

    from tui_mtl.data import multi_mnist
    from tui_mtl.errors import PresetError
    from tui_mtl.presets import SOURCE_TARGETS, parse_preset

    assert SOURCE_TARGETS["multi_mnist"] == SOURCE_TARGETS["multi_fashion"] == multi_mnist.TARGETS
    data = multi_preset("multi_fashion").model_dump(mode="json", exclude_none=True)
    data["model"]["heads"].append({"name": "sum", "kind": "regression"})
    with pytest.raises(PresetError, match="head 'sum' wants target 'sum', which the multi_fashion source does not"):
        parse_preset(tomli_w.dumps(data))


def test_the_shipped_multi_mnist_preset_checks_fails_clearly_offline_and_trains_with_the_file(
        keras_home, monkeypatch, capsys):
    from tui_mtl.cli import main
    from tui_mtl.presets import load_preset, shipped_presets_dir

    assert main(["presets", "check", str(shipped_presets_dir() / "multi-mnist.toml")]) == 0
    assert "ok (multi-mnist: 2 heads" in capsys.readouterr().out
    preset = load_preset("multi-mnist")
    assert preset.data.source == "multi_mnist" and preset.model.head_names == ["left", "right"]
    with pytest.raises(DataError, match=r"put mnist.npz in .*keras-home/datasets"):
        build_data(preset)

    write_fake_mnist(keras_home, monkeypatch)
    from tui_mtl.engine import Session

    small = preset.with_changes(data={"params": {"samples": 200}}, training={"batch_size": 8})
    report = Session(small).run(2)
    assert report.step == 2 and set(report.train_loss) == {"left", "right"}


# --- image_folder ----------------------------------------------------------------------------------

CLASSES = ("circle", "square", "triangle")  # the shape head's classes 0, 1, 2 (sorted, as Keras numbers them)


def make_image_folder(folder, per_class=4, csv_rows=True, edit=None) -> dict:
    """folder/<class>/<k>.png, each image's value identifying it; a CSV of size and bright per image."""
    expected, lines = {}, [["path", "size", "bright"]]
    for label, name in enumerate(CLASSES):
        for k in range(per_class):
            i = label * per_class + k
            rel = f"{name}/{k}.png"
            write_image(folder / "images" / rel, row_value(i))
            expected[round(row_value(i), 4)] = (label, i / 8, i % 2)
            lines.append([rel, str(i / 8), str(i % 2)])
    if edit:
        edit(lines)
    if csv_rows:
        (folder / "targets.csv").write_text("\n".join(",".join(line) for line in lines) + "\n")
    return expected


def folder_preset(**params) -> Preset:
    base = {"folder": "images", "targets_csv": "targets.csv", **params}
    return tiny_preset(data={"source": "image_folder", "params": {k: v for k, v in base.items() if v is not None},
                             "shuffle": False, "seed": 0, "validation_split": 0.25},
                       training={"batch_size": 3, "validation_batches": 1})


def test_an_image_folder_labels_one_head_by_subfolder_and_the_csv_the_others(tmp_path):
    expected = make_image_folder(tmp_path)
    train, val = load_arrays(folder_preset(), tmp_path)
    assert len(train) + len(val) == 12
    data = build_data(folder_preset(), tmp_path)
    seen = 0
    for x, y in data.train.take(3):
        assert tuple(x.shape) == (3, 8, 8, 1)
        for j in range(3):
            label, size, bright = expected[round(float(x[j, 0, 0, 0]), 4)]  # the image identifies its sample
            assert int(y["shape"][j]) == label
            assert float(y["size"][j, 0]) == pytest.approx(size) and float(y["bright"][j, 0]) == bright
            seen += 1
    assert seen == 9


@pytest.mark.parametrize("params, edit, expected", [
    ({"folder": "nope"}, None, "data.params.folder: no such folder"),
    ({}, lambda lines: lines.pop(3), "targets.csv: no row for image 'circle/2.png' (head 'size' needs its target)"),
    ({}, lambda lines: lines[2].__setitem__(2, "0.5"), "is not 0 or 1 (head 'bright' is binary)"),
    ({"head": "size"}, None, "data.params.head: head 'size' is a regression head"),
    ({"targets_csv": None}, None, "head 'size' wants target 'size', which the image_folder source does not have"),
])
def test_image_folder_problems_are_one_clear_message(tmp_path, params, edit, expected):
    make_image_folder(tmp_path, edit=edit)
    with pytest.raises(DataError) as caught:
        load_arrays(folder_preset(**params), tmp_path)
    assert expected in str(caught.value)


def test_image_folder_class_count_must_match_the_head(tmp_path):
    make_image_folder(tmp_path)
    (tmp_path / "images" / "star").mkdir()
    write_image(tmp_path / "images" / "star" / "0.png", 0.5)
    with pytest.raises(DataError, match=r"has 4 class folders \(circle, square, star, triangle\) but head 'shape' "
                                        r"has units = 3"):
        load_arrays(folder_preset(), tmp_path)
