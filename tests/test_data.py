"""Data sources (shapes, digits, npz) and the tf.data pipeline built from a preset's [data]."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import tiny_preset
from tui_mtl.data import build_data, load_arrays
from tui_mtl.data.digits import make_digit_pairs
from tui_mtl.data.shapes import make_shapes
from tui_mtl.errors import DataError

# --- shapes ------------------------------------------------------------------------------


def test_shapes_are_deterministic_for_a_seed_and_differ_for_another():
    a = make_shapes(8, 64, 0.05, {}, seed=1)
    b = make_shapes(8, 64, 0.05, {}, seed=1)
    c = make_shapes(8, 64, 0.05, {}, seed=2)
    np.testing.assert_array_equal(a.x, b.x)
    for name in a.targets:
        np.testing.assert_array_equal(a.targets[name], b.targets[name])
    assert not np.array_equal(a.x, c.x)
    assert not np.array_equal(a.targets["size"], c.targets["size"])


def test_shapes_arrays_have_the_documented_shapes_ranges_and_dtypes():
    arrays = make_shapes(12, 300, 0.05, {}, seed=0)
    assert arrays.x.shape == (300, 12, 12, 1) and arrays.x.dtype == np.float32
    t = arrays.targets
    assert set(t) == {"shape", "size", "x", "y", "intensity", "bright"}
    assert t["shape"].dtype == np.int32 and set(np.unique(t["shape"])) == {0, 1, 2}
    assert np.all((t["size"] >= 0.12) & (t["size"] <= 0.3))
    for name in ("x", "y"):  # centres keep the whole shape inside the image
        assert np.all(t[name] - t["size"] >= 0) and np.all(t[name] + t["size"] <= 1)
    assert np.all((t["intensity"] >= 0.3) & (t["intensity"] <= 1.0))
    np.testing.assert_array_equal(t["bright"], (t["intensity"] > 0.65).astype(np.float32))


def test_shapes_images_show_the_targets():
    """Without noise each image is 0 outside the shape and the target intensity inside it."""
    arrays = make_shapes(16, 200, 0.0, {}, seed=3)
    t = arrays.targets
    images = arrays.x[..., 0]
    np.testing.assert_allclose(images.reshape(200, -1).max(axis=1), t["intensity"], rtol=1e-6)
    lit = images > 0
    # the lit pixels' centre of mass is near the target centre (x is the column, y the row)
    cols = (np.arange(16) + 0.5) / 16
    mass = lit.sum(axis=(1, 2))
    cx = (lit * cols[None, None, :]).sum(axis=(1, 2)) / mass
    squares = t["shape"] == 0
    np.testing.assert_allclose(cx[squares], t["x"][squares], atol=0.06)
    # bigger shapes light more pixels; a square of half-width r covers about (2r)^2 of the image
    assert np.corrcoef(t["size"][squares], mass[squares])[0, 1] > 0.95
    np.testing.assert_allclose(mass[squares] / 256, (2 * t["size"][squares]) ** 2, atol=0.05)


def test_shapes_target_scales_multiply_regression_targets():
    plain = make_shapes(8, 50, 0.05, {}, seed=4)
    scaled = make_shapes(8, 50, 0.05, {"size": 100.0, "x": 3.0}, seed=4)
    np.testing.assert_allclose(scaled.targets["size"], 100.0 * plain.targets["size"], rtol=1e-6)
    np.testing.assert_allclose(scaled.targets["x"], 3.0 * plain.targets["x"], rtol=1e-6)
    np.testing.assert_array_equal(scaled.targets["y"], plain.targets["y"])
    np.testing.assert_array_equal(scaled.targets["shape"], plain.targets["shape"])
    np.testing.assert_array_equal(scaled.x, plain.x)  # only the targets change


def test_shapes_refuse_scaling_an_unknown_or_class_target():
    with pytest.raises(DataError, match="target_scales.*shape"):
        make_shapes(8, 20, 0.0, {"shape": 2.0}, seed=0)


def test_shapes_any_resolution():
    assert make_shapes(33, 4, 0.1, {}, seed=0).x.shape == (4, 33, 33, 1)


# --- digits ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def digit_pairs():
    return make_digit_pairs(samples=400, validation_split=0.25, seed=5)


def _digit_lookup():
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = (digits.images / 16.0).astype(np.float32)
    return {image.tobytes(): (i, int(label)) for i, (image, label) in enumerate(zip(images, digits.target))}


def test_digits_shapes_and_targets(digit_pairs):
    train, val = digit_pairs
    assert train.x.shape == (300, 8, 16, 1) and val.x.shape == (100, 8, 16, 1)
    assert train.x.dtype == np.float32 and 0 <= train.x.min() and train.x.max() <= 1
    for arrays in (train, val):
        t = arrays.targets
        assert t["left"].dtype == np.int32 and t["right"].dtype == np.int32
        assert t["left"].min() >= 0 and t["left"].max() <= 9
        np.testing.assert_array_equal(t["left"] + t["right"], t["sum"])
        assert t["sum"].dtype == np.float32


def test_digits_halves_are_real_digits_with_their_labels(digit_pairs):
    lookup = _digit_lookup()
    train, _val = digit_pairs
    for i in range(0, 300, 7):
        left = train.x[i, :, :8, 0].tobytes()
        right = train.x[i, :, 8:, 0].tobytes()
        assert lookup[left][1] == train.targets["left"][i]
        assert lookup[right][1] == train.targets["right"][i]


def test_digits_train_and_validation_pools_are_disjoint(digit_pairs):
    lookup = _digit_lookup()
    train, val = digit_pairs

    def used(arrays):
        ids = set()
        for image in arrays.x[..., 0]:
            ids.add(lookup[image[:, :8].tobytes()][0])
            ids.add(lookup[image[:, 8:].tobytes()][0])
        return ids

    train_ids, val_ids = used(train), used(val)
    assert train_ids and val_ids
    assert not train_ids & val_ids


def test_digits_are_deterministic_for_a_seed():
    a, _ = make_digit_pairs(64, 0.25, seed=1)
    b, _ = make_digit_pairs(64, 0.25, seed=1)
    c, _ = make_digit_pairs(64, 0.25, seed=2)
    np.testing.assert_array_equal(a.x, b.x)
    assert not np.array_equal(a.x, c.x)


# --- npz ---------------------------------------------------------------------------------

N = 40


def npz_preset(path="d.npz", shuffle=False):
    return tiny_preset(data={"source": "npz", "params": {"path": str(path)}, "shuffle": shuffle,
                             "seed": 0, "validation_split": 0.25})


def good_arrays(n=N) -> dict:
    rng = np.random.default_rng(0)
    return {
        "x": np.arange(n, dtype=np.float32)[:, None, None, None] * np.ones((1, 8, 8, 1), np.float32),
        "size": rng.normal(size=n).astype(np.float64),
        "shape": rng.integers(0, 3, n),
        "bright": rng.integers(0, 2, n).astype(np.float32),
    }


def write_npz(tmp_path, **changes) -> None:
    arrays = good_arrays()
    for key, value in changes.items():
        if value is None:
            del arrays[key]
        else:
            arrays[key] = value
    np.savez(tmp_path / "d.npz", **arrays)


def test_npz_file_loads_relative_to_the_preset_folder(tmp_path):
    write_npz(tmp_path)
    train, val = load_arrays(npz_preset(), base_dir=tmp_path)
    assert len(train) == 30 and len(val) == 10
    assert train.x.shape == (30, 8, 8, 1)
    # every row stays with its targets: x's constant value is the row number in the file
    source = good_arrays()
    for arrays in (train, val):
        rows = arrays.x[:, 0, 0, 0].astype(int)
        np.testing.assert_allclose(arrays.targets["size"][:, 0], source["size"][rows], rtol=1e-6)
        np.testing.assert_array_equal(arrays.targets["shape"], source["shape"][rows])
    assert not set(train.x[:, 0, 0, 0]) & set(val.x[:, 0, 0, 0])
    assert train.targets["size"].dtype == np.float32 and train.targets["size"].shape == (30, 1)
    assert train.targets["shape"].dtype == np.int32 and train.targets["shape"].shape == (30,)
    assert train.targets["bright"].dtype == np.float32


def test_npz_absolute_path_and_images_without_channel_axis(tmp_path):
    write_npz(tmp_path, x=good_arrays()["x"][..., 0])
    train, _val = load_arrays(npz_preset(tmp_path / "d.npz"))
    assert train.x.shape == (30, 8, 8, 1)


@pytest.mark.parametrize("changes, expected", [
    ({"x": None}, "no array named 'x'"),
    ({"shape": None}, "no array named 'shape' for head target 'shape'"),
    ({"size": np.zeros(N - 1)}, "'size' has 39 rows but 'x' has 40"),
    ({"x": np.zeros((N, 7, 8, 1))}, "'x' has samples of shape (7, 8, 1), but model.input_shape is (8, 8, 1)"),
    ({"shape": np.full(N, 3)}, "head 'shape' has 3 classes but its target holds label 3"),
    ({"shape": np.full(N, -1)}, "holds label -1"),
    ({"shape": np.full(N, 1.5)}, "non-integer values"),
    ({"bright": np.full(N, 0.5)}, "head 'bright' is binary but its target holds values other than 0 and 1"),
    ({"size": np.full(N, np.nan)}, "head 'size''s target holds NaN"),
    ({"size": np.zeros((N, 2))}, "head 'size' outputs 1 value(s) per sample but its target has 2"),
    ({"shape": np.full(N, 1e20)}, "holds label 100000000000000000000"),  # not a wrapped int32
    ({"shape": np.zeros((N, 3))}, "one class id per sample, not an array of shape (3,)"),
    ({"x": np.full((N, 8, 8, 1), "a")}, "'x' holds <U1 values; it must hold real numbers"),
    ({"x": np.ones((N, 8, 8, 1), complex)}, "'x' holds complex128 values"),
    ({"x": np.array([None] * N, dtype=object)}, "cannot read array 'x'"),
    ({"x": np.full((N, 8, 8, 1), np.inf)}, "'x' holds NaN or infinite values"),
    ({"shape": np.array(["circle"] * N)}, "'shape' holds <U6 values"),
    ({"size": np.array(3.0)}, "'size' has a single value but 'x' has 40"),
], ids=["missing-x", "missing-head", "length", "sample-shape", "label-too-big", "label-negative",
        "label-fraction", "binary-not-01", "nan", "width", "label-huge", "label-one-hot", "x-strings",
        "x-complex", "x-objects", "x-inf", "label-strings", "target-scalar"])
def test_npz_problems_are_clear_data_errors(tmp_path, changes, expected):
    write_npz(tmp_path, **changes)
    with pytest.raises(DataError) as info:
        load_arrays(npz_preset(), base_dir=tmp_path)
    message = str(info.value)
    assert expected in message, message
    assert "\n" not in message


def test_npz_missing_or_corrupt_file(tmp_path):
    with pytest.raises(DataError, match=r"data\.params\.path: cannot read .*nope\.npz"):
        load_arrays(npz_preset("nope.npz"), base_dir=tmp_path)
    (tmp_path / "d.npz").write_bytes(b"this is not a zip file")
    with pytest.raises(DataError, match="cannot read"):
        load_arrays(npz_preset(), base_dir=tmp_path)


def test_npz_a_single_npy_array_is_refused(tmp_path):
    with open(tmp_path / "d.npz", "wb") as handle:  # an .npy file under an .npz name
        np.save(handle, good_arrays()["x"])
    with pytest.raises(DataError, match="holds a single array, not an .npz archive"):
        load_arrays(npz_preset(), base_dir=tmp_path)


def test_npz_too_few_samples_to_split(tmp_path):
    np.savez(tmp_path / "d.npz", **good_arrays(1))
    with pytest.raises(DataError, match="1 sample.* leave none for training"):
        load_arrays(npz_preset(), base_dir=tmp_path)


def test_npz_boolean_targets_are_numbers(tmp_path):
    write_npz(tmp_path, bright=np.arange(N) % 2 == 0)
    train, _ = load_arrays(npz_preset(), base_dir=tmp_path)
    rows = train.x[:, 0, 0, 0].astype(int)
    np.testing.assert_array_equal(train.targets["bright"][:, 0], (rows % 2 == 0).astype(np.float32))


def test_head_targets_can_be_renamed():
    preset = tiny_preset(model={"heads": [{"name": "area", "target": "size"}]})
    train, _ = load_arrays(preset)
    assert set(train.targets) == {"area"}


# --- the tf.data pipeline ----------------------------------------------------------------


def first_batches(preset, n=3, **kw):
    splits = build_data(preset, **kw)
    return [(x.numpy(), {k: v.numpy() for k, v in y.items()}) for x, y in splits.train.take(n)]


def test_pipeline_fixed_batch_shapes_and_dtypes_per_head_kind():
    import tensorflow as tf

    preset = tiny_preset()  # 512 samples, 410 train: not a multiple of the batch size 16
    splits = build_data(preset)
    assert splits.train_size == 410 and splits.validation_size == 102
    x_spec, y_spec = splits.train.element_spec
    assert x_spec.shape.as_list() == [16, 8, 8, 1] and x_spec.dtype == tf.float32  # static: drop_remainder
    assert y_spec["size"].shape.as_list() == [16, 1] and y_spec["size"].dtype == tf.float32
    assert y_spec["shape"].shape.as_list() == [16] and y_spec["shape"].dtype == tf.int32
    assert y_spec["bright"].shape.as_list() == [16, 1] and y_spec["bright"].dtype == tf.float32
    # the train set repeats forever: more batches than one epoch holds, every one full
    shapes = {x.shape[0] for x, _y in splits.train.take(30)}
    assert shapes == {16}
    val = list(splits.validation)
    assert len(val) == preset.training.validation_batches
    assert all(x.shape == (16, 8, 8, 1) for x, _y in val)
    assert splits.validation.element_spec[0].shape.as_list() == [16, 8, 8, 1]


def test_pipeline_validation_batch_shrinks_to_a_small_validation_set():
    preset = tiny_preset(data={"params": {"samples": 40}}, training={"batch_size": 32})  # 8 for validation
    splits = build_data(preset)
    val = list(splits.validation)
    assert len(val) == 1 and val[0][0].shape[0] == 8


def test_pipeline_same_seed_same_batches_other_seed_other_batches():
    shuffled = {"shuffle": True, "seed": 7}
    a = first_batches(tiny_preset(data=shuffled))
    b = first_batches(tiny_preset(data=shuffled))
    c = first_batches(tiny_preset(data={"shuffle": True, "seed": 8}))
    for (xa, ya), (xb, yb) in zip(a, b):
        np.testing.assert_array_equal(xa, xb)
        np.testing.assert_array_equal(ya["shape"], yb["shape"])
    assert not np.array_equal(a[0][0], c[0][0])


def test_pipeline_shuffle_changes_the_order_but_not_the_data():
    ordered = first_batches(tiny_preset(data={"shuffle": False, "seed": 7}), n=1)[0][0]
    shuffled = first_batches(tiny_preset(data={"shuffle": True, "seed": 7}), n=1)[0][0]
    assert not np.array_equal(ordered, shuffled)
    train, _ = load_arrays(tiny_preset(data={"seed": 7}))
    pool = {row.tobytes() for row in train.x}
    assert all(row.tobytes() in pool for row in shuffled)


def test_pipeline_without_shuffle_keeps_file_order_and_wraps_around(tmp_path):
    np.savez(tmp_path / "d.npz", **good_arrays())
    preset = npz_preset(shuffle=False).with_changes(training={"batch_size": 8})
    batches = first_batches(preset, n=5, base_dir=tmp_path)  # 30 train rows: 3 full batches, then around
    rows = np.concatenate([x[:, 0, 0, 0] for x, _y in batches]).astype(int)
    train, _ = load_arrays(preset, base_dir=tmp_path)
    file_rows = train.x[:, 0, 0, 0].astype(int)
    assert list(file_rows) == sorted(file_rows)  # validation rows removed, the rest in file order
    expected = np.concatenate([file_rows, file_rows])[: len(rows)]
    np.testing.assert_array_equal(rows, expected)
    source = good_arrays()
    np.testing.assert_array_equal(batches[0][1]["shape"], source["shape"][rows[:8]])


def test_the_schema_knows_each_built_in_source_s_targets():
    from tui_mtl.data import digits, shapes
    from tui_mtl.presets import SOURCE_TARGETS

    assert SOURCE_TARGETS["shapes"] == shapes.TARGETS
    assert SOURCE_TARGETS["digits"] == digits.TARGETS
    assert set(make_shapes(8, 16, 0.0, {}, seed=0).targets) == set(shapes.TARGETS)
