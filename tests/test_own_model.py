"""Your own Keras model in: `[model] from = ...` (a .keras file, a function), `function` data,
Session.from_model, and the app opened on a handed Session. All on the real engine, tiny models."""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import pytest

from conftest import tiny_preset
from tui_mtl.engine import Session
from tui_mtl.errors import DataError, PresetError
from tui_mtl.presets import Preset, parse_preset, read_preset

# A user's model as they would write it: a residual block, a shared dense layer, and a head (shape)
# with its own convolutional branch; outputs named after tiny_preset's heads.
MODELS_PY = '''
import keras
from keras import layers


def build(filters=4, features=8):
    image = keras.Input(shape=(8, 8, 1), name="image")
    y = layers.Conv2D(filters, 3, padding="same", activation="relu", name="res_conv")(image)
    x = layers.Add(name="res_add")([layers.Conv2D(filters, 1, name="res_skip")(image), y])
    z = layers.Dense(features, activation="relu", name="shared")(layers.Flatten(name="flat")(x))
    branch = layers.GlobalMaxPooling2D(name="shape_pool")(layers.Conv2D(4, 3, name="shape_branch")(x))
    shape = layers.Dense(3, activation="softmax", name="shape")(layers.Concatenate()([z, branch]))
    size = layers.Dense(1, name="size")(z)
    bright = layers.Dense(1, activation="sigmoid", name="bright")(z)
    return keras.Model(image, {"size": size, "shape": shape, "bright": bright}, name="users_model")


def broken():
    raise RuntimeError("the user's own bug")


def not_a_model():
    return 42
'''
STEPS = 30


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "mymodels.py").write_text(MODELS_PY)
    return tmp_path


def own(source: str, heads: list | None = None, **model) -> Preset:
    """tiny_preset with its model replaced by `from = source`, keeping its heads, data and training."""
    table = tiny_preset().model_dump(mode="json", by_alias=True)
    table["model"] = {"from": source, "heads": heads or table["model"]["heads"], **model}
    return Preset.model_validate(table)


def weights(session: Session) -> dict[str, np.ndarray]:
    return {v.path: np.array(v) for v in session.stepper.model.weights}


def largest_difference(a: dict, b: dict) -> float:
    assert a.keys() == b.keys()
    return max(float(np.max(np.abs(a[k] - b[k]))) for k in a)


def test_a_function_model_trains_with_its_trunk_and_heads_found_from_the_graph(folder):
    preset = own("mymodels:build", args={"filters": 4})
    session = Session(preset, base_dir=folder)
    net = session.stepper.net
    assert sorted(v.path for v in net.trunk_variables) == [
        "res_conv/bias", "res_conv/kernel", "res_skip/bias", "res_skip/kernel", "shared/bias", "shared/kernel"]
    assert sorted(v.path for v in net.head_variables["shape"]) == [
        "shape/bias", "shape/kernel", "shape_branch/bias", "shape_branch/kernel"]
    assert sorted(v.path for v in net.head_variables["size"]) == ["size/bias", "size/kernel"]
    first, _ = session.validate()
    before = weights(session)
    session.run(60)
    assert largest_difference(before, weights(session)) > 1e-3
    after, _ = session.validate()
    assert sum(after.values()) < sum(first.values())


def test_a_saved_model_trains_exactly_like_the_preset_it_was_built_from(folder):
    """The split read from the graph is the builder's own: same weights after grouped and pcgrad steps."""
    from tui_mtl.model import build_model

    described = tiny_preset()
    build_model(described.model, seed=described.data.seed).model.save(folder / "tiny.keras")
    for strategy in ("summed", "grouped", "pcgrad"):
        reference = Session(described.with_changes(strategy={"name": strategy}))
        mine = Session(own("tiny.keras").with_changes(strategy={"name": strategy}), base_dir=folder)
        assert largest_difference(weights(reference), weights(mine)) == 0.0
        reference.run(STEPS)
        mine.run(STEPS)
        assert largest_difference(weights(reference), weights(mine)) < 1e-6, strategy


def test_restart_gives_a_function_model_its_fresh_weights_and_it_trains_like_new(folder):
    preset = own(f"{folder / 'mymodels.py'}:build")
    session = Session(preset.with_changes(strategy={"name": "grouped"}))
    session.run(STEPS)
    session.reset()
    session.run(STEPS)
    fresh = Session(preset.with_changes(strategy={"name": "grouped"}))
    fresh.run(STEPS)
    assert largest_difference(weights(session), weights(fresh)) < 1e-6


def test_a_preset_with_from_round_trips_and_its_copy_finds_the_model_from_anywhere(folder, tmp_path_factory):
    text = textwrap.dedent("""
        name = "mine"
        [model]
        from = "mymodels:build"
        args = { filters = 2 }
        [[model.heads]]
        name = "size"
        [[model.heads]]
        name = "shape"
        kind = "classification"
        units = 3
        [[model.heads]]
        name = "bright"
        kind = "binary"
        [data]
        source = "shapes"
        params = { image_size = 8, samples = 256 }
        [training]
        batch_size = 16
        steps = 10
        validate_every = 5
    """)
    (folder / "mine.toml").write_text(text)
    preset = read_preset(folder / "mine.toml")
    assert parse_preset(preset.to_toml()) == preset
    copy = preset.with_absolute_paths(folder)
    assert copy.model.source == f"{(folder / 'mymodels.py').resolve()}:build"
    elsewhere = tmp_path_factory.mktemp("run-folder")
    session = Session(parse_preset(copy.to_toml()), base_dir=elsewhere)  # as a resumed run folder would
    assert session.stepper.model.get_layer("res_conv").filters == 2
    session.run(10)
    assert session.step_count == 10


@pytest.mark.parametrize("source, model, message", [
    ("mymodels:missing", {}, "model.from: mymodels has no function 'missing'"),
    ("mymodels:broken", {}, "model.from: mymodels:broken() raised RuntimeError: the user's own bug"),
    ("mymodels:not_a_model", {}, "returned int, not a keras.Model"),
    ("nomodule:build", {}, "model.from: cannot import 'nomodule'"),
    ("absent.keras", {}, "model.from: no such file"),
    ("garbage.keras", {}, "garbage.keras does not load: "),
    ("mymodels:build", {"args": {"nope": 1}}, "raised TypeError: build() got an unexpected keyword argument"),
])
def test_a_model_that_cannot_be_had_gets_one_message_naming_it(folder, source, model, message):
    (folder / "garbage.keras").write_bytes(b"not a zip file")
    with pytest.raises(PresetError) as caught:
        Session(own(source, **model), base_dir=folder)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_an_input_shape_next_to_from_must_be_the_models(folder):
    (folder / "mydata.py").write_text(DATA_PY)
    table = tiny_preset().model_dump(mode="json", by_alias=True)
    table["model"] = {"from": "mymodels:build", "input_shape": [9, 9, 1], "heads": table["model"]["heads"]}
    table["data"] = {"source": "function", "params": {"function": "mydata:make"}}
    with pytest.raises(PresetError, match=r"model.input_shape \[9, 9, 1\] does not match the input of the model "
                                          r"given with from = ... \[8, 8, 1\]"):
        Session(Preset.model_validate(table), base_dir=folder)


def _heads(*names_and_kinds):
    """Heads of the given names on the shapes source's targets (shape for a classification head)."""
    return [{"name": name, "kind": kind, "target": "shape" if kind == "classification" else "size",
             **({"units": 3} if kind == "classification" else {})} for name, kind in names_and_kinds]


MISFITS = '''
import keras
from keras import layers

def two_of_three():
    """`pair` is reached by heads a and b but not c."""
    image = keras.Input(shape=(8, 8, 1))
    z = layers.Dense(4, name="trunk")(layers.Flatten()(image))
    pair = layers.Dense(4, name="pair")(z)
    return keras.Model(image, {"a": layers.Dense(1, name="a")(pair), "b": layers.Dense(1, name="b")(pair),
                               "c": layers.Dense(1, name="c")(z)})

def no_trunk():
    image = keras.Input(shape=(8, 8, 1))
    flat = layers.Flatten()(image)
    return keras.Model(image, {"a": layers.Dense(1, name="a")(flat), "b": layers.Dense(1, name="b")(flat)})

def list_outputs():
    image = keras.Input(shape=(8, 8, 1))
    z = layers.Dense(4)(layers.Flatten()(image))
    return keras.Model(image, [layers.Dense(1, name="a")(z), layers.Dense(1, name="b")(z)])

def wrong_input():
    image = keras.Input(shape=(6, 6, 1))
    z = layers.Dense(4)(layers.Flatten()(image))
    return keras.Model(image, {"a": layers.Dense(1, name="a")(z), "b": layers.Dense(1, name="b")(z)})
'''


@pytest.mark.parametrize("function, heads, message", [
    ("two_of_three", _heads(("a", "regression"), ("b", "regression"), ("c", "regression")),
     "variable 'pair/kernel' is reached by heads a, b but not by c"),
    ("no_trunk", _heads(("a", "regression"), ("b", "regression")), "no variable is reached by every head"),
    ("list_outputs", _heads(("a", "regression"), ("x", "regression")),
     "model.heads[1] (x): the model has no output named 'x' (its outputs: a, b)"),
    ("list_outputs", _heads(("a", "regression")), "the model's output 'b' has no head (heads: a)"),
    ("list_outputs", _heads(("a", "regression"), ("b", "classification")),
     "model.heads[1] (b): the model's output has shape [None, 1]; a classification head with 3 classes"),
    ("wrong_input", _heads(("a", "regression"), ("b", "regression")),
     "the model takes inputs of shape [6, 6, 1], and the shapes source's images are [8, 8, 1]"),
])
def test_a_model_that_does_not_fit_its_heads_gets_one_message_naming_what(folder, function, heads, message):
    (folder / "misfits.py").write_text(MISFITS)
    with pytest.raises(PresetError) as caught:
        Session(own(f"misfits:{function}", heads=heads), base_dir=folder)
    assert message in str(caught.value)


def test_a_list_output_model_is_matched_by_its_output_layer_names(folder):
    (folder / "misfits.py").write_text(MISFITS)
    session = Session(own("misfits:list_outputs", heads=_heads(("a", "regression"), ("b", "regression")),
                          ).with_changes(data={"params": {}}, strategy={"name": "grouped"}), base_dir=folder)
    before = weights(session)
    session.run(10)
    assert largest_difference(before, weights(session)) > 0


def test_the_preset_refuses_layers_next_to_from():
    table = tiny_preset().model_dump(mode="json", by_alias=True)
    table["model"]["from"] = "m.keras"
    with pytest.raises(ValueError, match="brings its own layers; drop the trunk list"):
        Preset.model_validate(table)
    table["model"].pop("trunk")
    table["model"]["heads"][0]["hidden"] = [4]
    with pytest.raises(ValueError, match=r"heads\[0\] \(size\): hidden layers come from the model"):
        Preset.model_validate(table)
    with pytest.raises(ValueError, match="neither a saved model"):
        own("not a reference")


# --- data in: the `function` source and Session.from_model -----------------------------------------

DATA_PY = '''
import numpy as np

def make(samples=96, seed=3):
    rng = np.random.default_rng(seed)
    x = rng.random((samples, 8, 8, 1)).astype("float32")
    return x, {"size": x.mean(axis=(1, 2, 3)), "shape": rng.integers(0, 3, samples),
               "bright": (x.mean(axis=(1, 2, 3)) > 0.5).astype("float32")}

def as_dataset(samples=96, seed=3):
    import tensorflow as tf
    return tf.data.Dataset.from_tensor_slices(make(samples, seed)).batch(7)
'''
TRAINING = {"batch_size": 16, "steps": 20, "validate_every": 10, "validation_batches": 2}


def test_from_model_trains_the_same_on_arrays_a_dataset_and_a_function_source(folder):
    (folder / "mydata.py").write_text(DATA_PY + MODELS_PY)
    import importlib.util

    spec = importlib.util.spec_from_file_location("mydata_for_test", folder / "mydata.py")
    mydata = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mydata)
    initial = mydata.build().get_weights()
    preset = own("mydata:build").with_changes(
        data={"source": "function", "params": {"function": "mydata:make"}}, training=TRAINING,
        strategy={"name": "grouped"})
    sessions = [Session.from_model(mydata.build(), list(preset.model.heads), data,
                                   training=preset.training.model_dump(), strategy="grouped")
                for data in (mydata.make(), mydata.as_dataset())] + [Session(preset, base_dir=folder)]
    results = []
    for session in sessions:
        assert session.stepper.data.train_size + session.stepper.data.validation_size == 96
        session.stepper.model.set_weights(initial)  # models built outside the seeded builder differ
        session.run(20)
        results.append(weights(session))
    assert largest_difference(results[0], results[1]) < 1e-6
    assert largest_difference(results[0], results[2]) < 1e-6
    assert largest_difference(results[0], {k: v for k, v in zip(results[0], initial)}) > 1e-3


def test_from_model_refuses_data_that_does_not_fit():
    import keras

    image = keras.Input(shape=(8, 8, 1))
    z = keras.layers.Dense(4)(keras.layers.Flatten()(image))
    model = keras.Model(image, {"a": keras.layers.Dense(1, name="a")(z), "b": keras.layers.Dense(1, name="b")(z)})
    heads = {"a": {"kind": "regression"}, "b": {"kind": "regression"}}
    x = np.zeros((40, 8, 8, 1), "float32")
    with pytest.raises(DataError, match="target 'b' has 39 samples and x has 40"):
        Session.from_model(model, heads, (x, {"a": np.zeros(40), "b": np.zeros(39)}))
    with pytest.raises(DataError, match=r"x has samples of shape \[8, 8\] but the model takes \[8, 8, 1\]"):
        Session.from_model(model, heads, (x[..., 0], {"a": np.zeros(40), "b": np.zeros(40)}))
    with pytest.raises(DataError, match=r"give \(x, \{target: y\}\)"):
        Session.from_model(model, heads, [x])
    with pytest.raises(PresetError, match="Session.from_model: model.heads"):
        Session.from_model(model, {"a": {"kind": "nope"}, "b": {}}, (x, {}))


# --- the shipped example, through the command line ------------------------------------------------

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "own-model"


def test_the_example_checks_runs_resumes_and_exports_from_its_run_folder(tmp_path, capsys, monkeypatch):
    import shutil

    import keras

    from tui_mtl.cli.main import main
    from tui_mtl.engine.checkpoint import read_meta

    example = tmp_path / "own-model"
    shutil.copytree(EXAMPLE, example, ignore=shutil.ignore_patterns("__pycache__"))
    preset = example / "own-model.toml"
    assert main(["presets", "check", str(preset)]) == 0
    assert "own model" in capsys.readouterr().out
    runs = tmp_path / "runs"
    monkeypatch.chdir(tmp_path)  # nowhere near the model's folder
    assert main(["run", str(preset), "--steps", "12", "--runs-dir", str(runs), "--quiet"]) == 0
    (run,) = runs.iterdir()
    assert read_meta(run / "checkpoint.npz")["step"] == 12
    assert main(["resume", "latest", "--steps", "6", "--runs-dir", str(runs), "--quiet"]) == 0
    assert read_meta(run / "checkpoint.npz")["step"] == 18
    out = tmp_path / "exported.keras"
    assert main(["export", run.name, "--model", str(out), "--runs-dir", str(runs)]) == 0
    session = Session(read_preset(run / "preset.toml"))
    session.load_checkpoint(run / "checkpoint.npz")
    x = np.random.default_rng(0).random((4, 16, 16, 1)).astype("float32")
    ours, theirs = session.model(x), keras.models.load_model(out)(x)
    for head in session.head_names:
        np.testing.assert_allclose(np.asarray(ours[head]), np.asarray(theirs[head]), rtol=1e-5, atol=1e-6)
