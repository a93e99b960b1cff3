"""Run folders, checkpoints and resume: continuing gives exactly the uninterrupted run."""

import csv
import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from tests.conftest import tiny_preset
from tui_mtl.engine import checkpoint
from tui_mtl.engine import Session
from tui_mtl.presets import read_preset
from tui_mtl.runs.recorder import RunRecorder


def weights(session):
    return [np.array(v.numpy()) for v in session.state_variables()]


def preset_for_resume():
    return tiny_preset(data={"shuffle": True}, training={"diagnostics_every": 5},
                       strategy={"name": "summed"})


def test_resume_continues_exactly_like_an_uninterrupted_run(tmp_path):
    preset = preset_for_resume()
    straight = Session(preset)
    straight.run(7)
    straight.set_strategy("grouped+dwa")
    straight.set_lr("size", 0.003)
    straight.run(33)  # the shuffled stream wraps around an epoch (512 samples, batch 16)

    first = Session(preset)
    first.run(7)
    first.set_strategy("grouped+dwa")
    first.set_lr("size", 0.003)
    first.run(11)
    path = tmp_path / "ck.npz"
    checkpoint.save(first, path)

    resumed = Session(preset)
    resumed.load_checkpoint(path)
    assert resumed.step_count == 18 and resumed.strategy == "grouped+dwa"
    assert resumed.learning_rates["size"] == 0.003
    resumed.run(22)
    assert resumed.step_count == straight.step_count == 40
    assert all(np.array_equal(a, b) for a, b in zip(weights(resumed), weights(straight)))
    # the history came along too
    assert resumed.history.snapshot("size")["train"][0][0] == straight.history.snapshot("size")["train"][0][0]
    assert [e.kind for e in resumed.events] == [e.kind for e in straight.events]


def test_a_failed_checkpoint_write_leaves_the_previous_one_intact(tmp_path, monkeypatch):
    session = Session(tiny_preset())
    session.run(3)
    path = tmp_path / "ck.npz"
    checkpoint.save(session, path)
    before = path.read_bytes()
    session.run(3)

    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", full_disk)
    with pytest.raises(OSError):
        checkpoint.save(session, path)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert checkpoint.read_meta(path)["step"] == 3
    assert [p.name for p in tmp_path.iterdir()] == ["ck.npz"]  # no temporary left behind


def test_a_checkpoint_of_another_model_is_refused(tmp_path):
    session = Session(tiny_preset())
    path = tmp_path / "ck.npz"
    checkpoint.save(session, path)
    other = tiny_preset(model={"trunk": [{"type": "flatten"}, {"type": "dense", "units": 5}]})
    with pytest.raises(checkpoint.CheckpointError, match="do not fit"):
        Session(other).load_checkpoint(path)
    (tmp_path / "junk.npz").write_bytes(b"not a checkpoint")
    with pytest.raises(checkpoint.CheckpointError, match="not a readable"):
        Session(tiny_preset()).load_checkpoint(tmp_path / "junk.npz")


def tensorboard_tags(folder) -> set:
    tags = set()
    for file in folder.iterdir():
        for event in tf.compat.v1.train.summary_iterator(str(file)):
            for value in event.summary.value:
                tags.add(value.tag)
    return tags


def test_the_run_folder_holds_preset_events_metrics_tensorboard_and_checkpoint(tmp_path):
    session = Session(tiny_preset(training={"validate_every": 5, "diagnostics_every": 5}), report_every=5)
    recorder = RunRecorder(tmp_path / "run", session, checkpoint_every=10)
    session.run(10)
    session.set_strategy("grouped")
    session.set_weight("shape", 2.0)
    session.run(10)
    recorder.close()
    run = tmp_path / "run"
    assert read_preset(run / "preset.toml") == session.preset
    events = [json.loads(line) for line in (run / "events.jsonl").read_text().splitlines()]
    assert [(e["step"], e["kind"], e["text"]) for e in events] == [(10, "strategy", "grouped"),
                                                                    (10, "weight", "shape w=2")]
    rows = list(csv.DictReader((run / "metrics.csv").open()))
    # every 5 steps, and at the step after the changes (a change is reported at once)
    assert [int(r["step"]) for r in rows] == [5, 10, 11, 15, 20]
    assert rows[-1]["strategy"] == "grouped" and float(rows[-1]["weight_shape"]) == 2.0
    assert rows[-1]["val_loss_size"] and rows[-1]["grad_norm_size"]
    train_tags = tensorboard_tags(run / "train")
    assert {"loss/size", "learning_rate/trunk", "weight/shape", "diagnostics/cosine/size~shape",
            "events"} <= train_tags
    assert {"loss/size", "metric/shape"} <= tensorboard_tags(run / "validation")
    assert checkpoint.read_meta(run / "checkpoint.npz")["step"] == 20


def run_cli(*args, env=None):
    return subprocess.run([sys.executable, "-m", "tui_mtl", *args], capture_output=True, text=True, timeout=300,
                          env={**os.environ, **(env or {})})


def test_cli_run_resume_and_export(tmp_path):
    preset_file = tmp_path / "tiny.toml"
    preset_file.write_text(tiny_preset().to_toml())
    runs = tmp_path / "runs"
    first = run_cli("run", str(preset_file), "--steps", "12", "--runs-dir", str(runs), "--quiet")
    assert first.returncode == 0, first.stderr
    (run,) = runs.iterdir()
    assert f"run folder: {run}" in first.stdout
    assert checkpoint.read_meta(run / "checkpoint.npz")["step"] == 12

    resumed = run_cli("resume", "latest", "--steps", "8", "--runs-dir", str(runs), "--quiet")
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming at step 12" in resumed.stdout
    assert checkpoint.read_meta(run / "checkpoint.npz")["step"] == 20
    steps = [int(r["step"]) for r in csv.DictReader((run / "metrics.csv").open())]
    assert steps == sorted(steps) and steps[-1] == 20  # one file, appended

    out = tmp_path / "model.keras"
    exported = run_cli("export", run.name, "--model", str(out), "--runs-dir", str(runs))
    assert exported.returncode == 0, exported.stderr
    model = keras.models.load_model(out)
    session = Session(read_preset(run / "preset.toml"))
    session.load_checkpoint(run / "checkpoint.npz")
    x = np.random.default_rng(0).normal(size=(4, 8, 8, 1)).astype("float32")
    ours, theirs = session.model(x), model(x)
    for head in session.head_names:
        np.testing.assert_allclose(np.asarray(ours[head]), np.asarray(theirs[head]), rtol=1e-6)

    missing = run_cli("resume", "no-such-run", "--runs-dir", str(runs))
    assert missing.returncode == 2 and "no run 'no-such-run'" in missing.stderr


def test_a_run_folder_keeps_finding_a_relative_npz_file(tmp_path):
    """The preset copied into the run folder names the data file absolutely, so resume finds it."""
    data_dir = tmp_path / "project"
    data_dir.mkdir()
    rng = np.random.default_rng(0)
    np.savez(data_dir / "data.npz", x=rng.normal(size=(64, 8, 8, 1)).astype("float32"),
             size=rng.normal(size=64).astype("float32"))
    preset = tiny_preset(data={"source": "npz", "params": {"path": "data.npz"}, "shuffle": False},
                         model={"heads": [{"name": "size", "kind": "regression"}]})
    (data_dir / "mine.toml").write_text(preset.to_toml())
    runs = tmp_path / "runs"
    first = run_cli("run", str(data_dir / "mine.toml"), "--steps", "3", "--runs-dir", str(runs), "--quiet")
    assert first.returncode == 0, first.stderr
    (run,) = runs.iterdir()
    assert read_preset(run / "preset.toml").data.params["path"] == str((data_dir / "data.npz").resolve())
    resumed = run_cli("resume", str(run), "--steps", "2", "--quiet")
    assert resumed.returncode == 0, resumed.stderr


def test_an_fp16_run_resumes_in_fp16_and_logs_its_loss_scale(tmp_path):
    preset_file = tmp_path / "tiny.toml"
    preset_file.write_text(tiny_preset().to_toml())
    runs = tmp_path / "runs"
    first = run_cli("run", str(preset_file), "--steps", "6", "--runs-dir", str(runs), "--quiet",
                    "--mixed-precision", "fp16")
    assert first.returncode == 0, first.stderr
    (run,) = runs.iterdir()
    assert checkpoint.read_meta(run / "checkpoint.npz")["mixed_precision"] == "fp16"
    resumed = run_cli("resume", "latest", "--steps", "4", "--runs-dir", str(runs), "--quiet")
    assert resumed.returncode == 0, resumed.stderr
    rows = list(csv.DictReader((run / "metrics.csv").open()))
    assert int(rows[-1]["step"]) == 10
    assert all(float(row["loss_scale"]) >= 1.0 for row in rows)  # fp16 before and after the resume
    assert "loss_scale" in tensorboard_tags(run / "train")
