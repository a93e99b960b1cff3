"""`tui_mtl.keras.MultiTaskModel`: a strategy inside the user's own `model.fit`."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tests.conftest import tiny_preset
from tui_mtl.engine import Session
from tui_mtl.keras import MultiTaskModel

STEPS = 12


def two_heads(strategy):
    heads = [h for h in tiny_preset().model.model_dump()["heads"] if h["name"] in ("size", "bright")]
    heads[1]["learning_rate"] = 0.003  # per-head rates differ: grouped must use each
    return tiny_preset(model={"heads": heads}, strategy={"name": strategy}, training={"diagnostics_every": 0})


def as_dataset(batches):
    x = tf.concat([b[0] for b in batches], 0)
    y = {h: tf.concat([b[1][h] for b in batches], 0) for h in batches[0][1]}
    return tf.data.Dataset.from_tensor_slices((x, y)).batch(int(batches[0][0].shape[0]))


def wrapped(session, preset, strategy, **kwargs):
    own = keras.models.clone_model(session.model)  # "the user's model": same architecture, same start
    own.set_weights(session.stepper.initial_weights)
    heads = preset.model.heads
    model = MultiTaskModel(own, strategy=strategy, optimizer=preset.training.optimizer.make,
                           learning_rates={"trunk": preset.training.trunk_learning_rate,
                                           **{h.name: h.learning_rate for h in heads}}, **kwargs)
    model.compile(loss={h.name: h.make_loss() for h in heads}, loss_weights={h.name: h.weight for h in heads})
    return model


@pytest.mark.parametrize("strategy", ["summed", "grouped", "pcgrad@grouped", "summed+uncertainty"])
def test_fit_with_a_strategy_gives_the_sessions_weights(strategy):
    preset = two_heads(strategy)
    session = Session(preset)
    batches = list(session.stepper.data.train.take(STEPS))
    session.run(STEPS)
    model = wrapped(session, preset, strategy)
    history = model.fit(as_dataset(batches), epochs=1, verbose=0)
    ours, theirs = session.model.get_weights(), model.inner.get_weights()
    assert max(float(np.max(np.abs(a - b))) for a, b in zip(ours, theirs)) <= 1e-5
    moved = max(float(np.max(np.abs(a - b))) for a, b in zip(session.stepper.initial_weights, theirs))
    assert moved > 1e-3
    assert {"loss", "size_loss", "bright_loss"} <= set(history.history)  # per-head losses in fit's logs


def test_evaluate_predict_callbacks_and_a_users_list_output_model(tmp_path):
    inputs = keras.Input((8, 8, 1))
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu")(inputs)
    skip = x
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu")(x)
    x = keras.layers.Add()([x, skip])  # a residual block
    z = keras.layers.Flatten()(x)
    size = keras.layers.Dense(1, name="size")(z)
    branch = keras.layers.Dense(6, activation="relu", name="bright_branch")(z)  # a head with its own branch
    bright = keras.layers.Dense(1, activation="sigmoid", name="bright")(branch)
    own = keras.Model(inputs, [size, bright])  # outputs as a list, named by their layers
    path = tmp_path / "own.keras"
    own.save(path)
    own = keras.models.load_model(path)
    model = MultiTaskModel(own, strategy="pcgrad@grouped", learning_rates={"size": 1e-2, "bright": 1e-3})
    assert {v.path for v in model.net.head_variables["bright"]} == {"bright_branch/kernel", "bright_branch/bias",
                                                                    "bright/kernel", "bright/bias"}
    model.compile(loss={"size": "mse", "bright": "binary_crossentropy"})
    session = Session(tiny_preset())
    batches = list(session.stepper.data.train.take(8))
    data = as_dataset(batches).map(lambda x, y: (x, {"size": y["size"], "bright": y["bright"]}))
    before = [w.copy() for w in own.get_weights()]
    history = model.fit(data, validation_data=data, epochs=3, verbose=0,
                        callbacks=[keras.callbacks.EarlyStopping(monitor="val_size_loss", mode="min", patience=5),
                                   keras.callbacks.TensorBoard(log_dir=str(tmp_path / "tb"))])
    assert len(history.history["val_size_loss"]) == 3 and (tmp_path / "tb" / "train").is_dir()
    assert max(float(np.max(np.abs(a - b))) for a, b in zip(before, own.get_weights())) > 1e-4
    assert history.history["size_loss"][-1] < history.history["size_loss"][0]
    results = model.evaluate(data, verbose=0, return_dict=True)
    assert set(results) == {"loss", "size_loss", "bright_loss"}
    predictions = model.predict(batches[0][0], verbose=0)
    assert [p.shape for p in predictions] == [(16, 1), (16, 1)]


def test_bad_wrapping_is_one_clear_message():
    inputs = keras.Input((4,))
    single = keras.Model(inputs, keras.layers.Dense(1, name="only")(inputs))
    with pytest.raises(ValueError, match="needs one named output per head"):
        MultiTaskModel(single)
    session = Session(tiny_preset())
    with pytest.raises(ValueError, match="alternating picks one head per step"):
        MultiTaskModel(session.model, strategy="alternating")
    with pytest.raises(ValueError, match="learning_rates: unknown head"):
        MultiTaskModel(session.model, learning_rates={"sizes": 1e-3})
    model = MultiTaskModel(session.model)
    with pytest.raises(ValueError, match="missing \\['bright'\\]"):
        model.compile(loss={"size": "mse", "shape": "sparse_categorical_crossentropy"})


def test_an_exported_training_script_trains_like_the_run_with_its_settings_in_force(tmp_path, capsys):
    """`tui-mtl export RUN --script`: the script, run as it is, gives the weights a Session with the
    run's settings in force gives on the same batches."""
    import os
    import subprocess
    import sys

    from tui_mtl.cli.main import main
    from tui_mtl.engine.checkpoint import read_meta
    from tui_mtl.presets import read_preset

    preset_file = tmp_path / "tiny.toml"
    preset_file.write_text(tiny_preset(training={"validate_every": 5}, data={"shuffle": True}).to_toml())
    runs = tmp_path / "runs"
    assert main(["run", str(preset_file), "--strategy", "pcgrad@grouped+dwa", "--lr", "size=0.02",
                 "--weight", "bright=0.4", "--steps", "6", "--runs-dir", str(runs), "--quiet"]) == 0
    (run,) = runs.iterdir()
    script = tmp_path / "train.py"
    assert main(["export", run.name, "--script", str(script), "--runs-dir", str(runs)]) == 0
    assert f"wrote {script} (pcgrad@grouped+dwa at step 6)" in capsys.readouterr().out
    out = tmp_path / "trained.keras"
    result = subprocess.run([sys.executable, str(script), "--steps", "10", "--out", str(out)], cwd=tmp_path,
                            capture_output=True, text=True, timeout=300,
                            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert result.returncode == 0, result.stderr[-2000:]
    assert read_meta(run / "checkpoint.npz")["step"] == 6

    session = Session(read_preset(run / "preset.toml"))
    session.load_checkpoint(run / "checkpoint.npz")
    in_force = session.current_preset()
    assert in_force.strategy.name == "pcgrad@grouped+dwa" and in_force.model.head("size").learning_rate == 0.02
    reference = Session(in_force)
    reference.run(10)
    trained = keras.models.load_model(out)
    for mine, theirs in zip(reference.model.weights, trained.weights):
        np.testing.assert_allclose(np.array(mine), np.array(theirs), rtol=1e-5, atol=1e-6)


def test_export_script_refuses_what_a_train_step_cannot_do(tmp_path, capsys):
    from tui_mtl.cli.main import main

    preset_file = tmp_path / "tiny.toml"
    preset_file.write_text(tiny_preset().to_toml())
    runs = tmp_path / "runs"
    assert main(["run", str(preset_file), "--strategy", "alternating", "--steps", "2", "--runs-dir", str(runs),
                 "--quiet"]) == 0
    capsys.readouterr()
    assert main(["export", "latest", "--script", str(tmp_path / "t.py"), "--runs-dir", str(runs)]) == 2
    assert "picks one head per step on the host" in capsys.readouterr().err
    assert main(["export", "latest", "--runs-dir", str(runs)]) == 2
    assert "say what to write: --model OUT.keras and/or --script TRAIN.py" in capsys.readouterr().err


def test_callbacks_find_the_direction_of_a_heads_loss_and_lower_one_heads_rate():
    """EarlyStopping(monitor="val_size_loss") needs no mode; ReduceHeadLROnPlateau lowers one head's
    rate in the optimizer that holds it, and no other."""
    from tui_mtl.keras import ReduceHeadLROnPlateau

    session = Session(tiny_preset())
    batches = list(session.stepper.data.train.take(4))
    data = as_dataset(batches)
    model = MultiTaskModel(session.model, strategy="grouped", learning_rates={"size": 1e-2, "bright": 1e-3})
    model.compile(loss={"size": "mse", "shape": "sparse_categorical_crossentropy", "bright": "binary_crossentropy"})
    stop = keras.callbacks.EarlyStopping(monitor="val_size_loss", patience=100)
    lower = ReduceHeadLROnPlateau("size", factor=0.5, patience=0, min_delta=1e9)  # nothing counts as better
    model.fit(data, validation_data=data, epochs=3, verbose=0, callbacks=[stop, lower])
    assert stop.monitor_op is not None and stop.monitor_op(1.0, 2.0)  # lower is better
    optimizers = model.strategy.layout.optimizers()
    assert model.learning_rate("size") == pytest.approx(1e-2 * 0.5 ** 2)
    assert float(optimizers["size"].learning_rate) == pytest.approx(1e-2 * 0.5 ** 2)
    assert float(optimizers["bright"].learning_rate) == pytest.approx(1e-3)
    with pytest.raises(ValueError, match="unknown head 'sizes'"):
        model.set_learning_rate("sizes", 1.0)


def test_the_wrapper_saves_and_loads_as_a_keras_file(tmp_path):
    session = Session(tiny_preset())
    data = as_dataset(list(session.stepper.data.train.take(3)))
    model = MultiTaskModel(keras.models.clone_model(session.model), strategy="pcgrad@grouped+dwa",
                           learning_rates={"size": 2e-3}, params={"dwa": {"temperature": 3.0}},
                           loss_scales={"bright": 10.0})
    losses = {"size": "mse", "shape": "sparse_categorical_crossentropy", "bright": "binary_crossentropy"}
    model.compile(loss=losses, loss_weights={"shape": 0.5})
    model.fit(data, epochs=1, verbose=0)
    model.save(tmp_path / "wrapped.keras")
    loaded = keras.models.load_model(tmp_path / "wrapped.keras")
    assert isinstance(loaded, MultiTaskModel) and loaded.strategy_name == "pcgrad@grouped+dwa"
    assert loaded.rates == model.rates and loaded._loss_scales == model._loss_scales
    x = next(iter(data))[0]
    for head in ("size", "shape", "bright"):
        np.testing.assert_allclose(np.asarray(loaded(x)[head]), np.asarray(model(x)[head]), rtol=1e-6)
    before = [np.array(w) for w in loaded.inner.weights]
    loaded.fit(data, epochs=1, verbose=0)  # compiled on load, from the saved loss and weights
    assert max(float(np.max(np.abs(a - np.array(b)))) for a, b in zip(before, loaded.inner.weights)) > 0
