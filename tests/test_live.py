"""Your own model.fit streamed live (tui_mtl.keras.LiveCallback) and plotted (`tui-mtl watch`)."""

from __future__ import annotations

import csv
import json

import keras
import numpy as np
import pytest

from tui_mtl.keras import LiveCallback, MultiTaskModel
from tui_mtl.runs.tail import MetricsTail

BATCH = 16


def two_head_model():
    keras.utils.set_random_seed(0)
    image = keras.Input(shape=(6,))
    z = keras.layers.Dense(8, activation="relu", name="trunk")(image)
    return keras.Model(image, {"a": keras.layers.Dense(1, name="a")(z), "b": keras.layers.Dense(1, name="b")(z)})


def data(n=64):
    x = np.random.default_rng(1).random((n, 6)).astype("float32")
    return x, {"a": x.sum(1, keepdims=True), "b": x.max(1, keepdims=True)}


def rows(run_dir):
    return list(csv.DictReader((run_dir / "metrics.csv").open()))


def test_every_row_holds_each_heads_loss_on_its_own_batches(tmp_path):
    """With a row per step and a model that does not move (rate 0), each row's loss is that batch's
    loss, computed here independently; epoch-end rows hold fit's own validation losses."""
    model = MultiTaskModel(two_head_model(), strategy="grouped", optimizer=lambda rate: keras.optimizers.SGD(0.0))
    model.compile(loss={"a": "mse", "b": "mae"})
    x, y = data()
    history = model.fit(x, y, batch_size=BATCH, epochs=2, shuffle=False, validation_data=(x, y), verbose=0,
                        callbacks=[LiveCallback(tmp_path / "run", interval=0)])
    train = [r for r in rows(tmp_path / "run") if r["loss_a"]]
    assert [int(r["step"]) for r in train] == list(range(1, 9))
    for row in train:
        batch = (int(row["step"]) - 1) % 4
        xs, ys = x[batch * BATCH:(batch + 1) * BATCH], {h: v[batch * BATCH:(batch + 1) * BATCH] for h, v in y.items()}
        out = model.inner(xs)
        assert float(row["loss_a"]) == pytest.approx(float(keras.losses.mean_squared_error(ys["a"], out["a"]).numpy()
                                                           .mean()), rel=1e-5)
        assert float(row["loss_b"]) == pytest.approx(float(keras.losses.mean_absolute_error(ys["b"], out["b"]).numpy()
                                                           .mean()), rel=1e-5)
        assert row["strategy"] == "grouped" and float(row["lr_a"]) == 1e-3
    val = [r for r in rows(tmp_path / "run") if r["val_loss_a"]]
    assert [float(r["val_loss_a"]) for r in val] == pytest.approx(history.history["val_a_loss"], rel=1e-6)
    assert rows(tmp_path / "run")[-1]["state"] == "finished"
    assert json.loads((tmp_path / "run" / "live.json").read_text())["state"] == "finished"


def test_a_plain_keras_fit_is_streamed_with_rows_as_means_since_the_last(tmp_path):
    model = two_head_model()
    model.compile(optimizer="adam", loss={"a": "mse", "b": "mse"})
    x, y = data()
    history = model.fit(x, y, batch_size=BATCH, epochs=3, shuffle=False, verbose=0,
                        callbacks=[LiveCallback(tmp_path / "run", interval=3600)])  # rows only at epoch ends
    train = [r for r in rows(tmp_path / "run") if r["loss_a"]]
    assert [float(r["loss_a"]) for r in train] == pytest.approx(history.history["a_loss"], rel=1e-5)
    assert [int(r["step"]) for r in train] == [4, 8, 12]


def test_the_tail_reads_only_whole_new_lines(tmp_path):
    path = tmp_path / "metrics.csv"
    path.write_text("step,state,loss_a,val_loss_a\n1,running,0.5,\n2,run")
    tail = MetricsTail(tmp_path)
    assert tail.poll() and tail.series.train["a"] == ([1.0], [0.5])
    with path.open("a") as handle:
        handle.write("ning,0.25,0.3\n")
    assert tail.poll() and tail.series.train["a"] == ([1.0, 2.0], [0.5, 0.25])
    assert tail.series.val["a"] == ([2.0], [0.3]) and not tail.poll()


def test_watch_names_a_folder_that_is_no_run(tmp_path, capsys):
    from tui_mtl.cli.main import main

    (tmp_path / "empty").mkdir()
    assert main(["watch", str(tmp_path / "empty")]) == 2
    assert "not a run folder (no metrics.csv)" in capsys.readouterr().err
