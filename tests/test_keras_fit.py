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
