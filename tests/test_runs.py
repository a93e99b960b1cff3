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
    return list(session.capture().arrays.values())


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


def test_a_format_1_checkpoint_from_the_previous_version_loads_and_continues_exactly():
    """tests/fixtures/legacy_v1: a checkpoint written by tui-mtl 0.1 (positional arrays) after summed,
    grouped+dwa, summed+gradnorm and alternating, and the weights that version had 6 steps later."""
    from pathlib import Path

    folder = Path(__file__).parent / "fixtures" / "legacy_v1"
    session = Session(read_preset(folder / "preset.toml"), report_every=5)
    session.load_checkpoint(folder / "checkpoint.npz")
    assert checkpoint.read_meta(folder / "checkpoint.npz")["format"] == 1
    assert session.step_count == 29 and session.strategy == "alternating"
    assert session.learning_rates["size"] == 0.02 and session.weights["bright"] == 1.1
    session.run(6)
    expected = np.load(folder / "expected_after_6.npz")
    # to 1e-6, not bit for bit: the expected weights were computed on another CPU, whose oneDNN kernels
    # round differently (8e-8 apart on an AVX-512 machine); a state restored wrong (zeroed optimizer
    # slots) is 7e-2 away after 6 steps
    for i, value in enumerate(session.model.get_weights()):
        np.testing.assert_allclose(value, expected[f"arr_{i}"], rtol=0, atol=1e-6)


def test_resume_without_steps_goes_to_the_runs_own_target(tmp_path):
    """A run stopped at 12 of 30 resumes to 30 (it used to train the preset's steps again)."""
    import signal

    preset_file = tmp_path / "tiny.toml"
    preset_file.write_text(tiny_preset(training={"steps": 100000}).to_toml())
    runs = tmp_path / "runs"
    proc = subprocess.Popen([sys.executable, "-m", "tui_mtl", "run", str(preset_file), "--runs-dir", str(runs)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        for line in proc.stdout:
            if line.startswith("step "):
                break
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=60)
    finally:
        proc.kill()
    (run,) = runs.iterdir()
    meta = checkpoint.read_meta(run / "checkpoint.npz")
    stopped = meta["step"]
    assert 0 < stopped < 100000 and meta["target"] == 100000
    from tui_mtl.engine.checkpoint import resume_target

    assert resume_target(stopped, meta["target"], 100000) == 100000
    assert resume_target(stopped, None, 30) == (30 if stopped < 30 else stopped + 30)  # format 1: no target
    assert resume_target(stopped, meta["target"], 100000, more=5) == stopped + 5
    # a short check through the CLI: a 20-step run stopped... is simulated by its checkpoint's target
    small = tmp_path / "small.toml"
    small.write_text(tiny_preset(training={"steps": 20}).to_toml())
    done = run_cli("run", str(small), "--steps", "8", "--runs-dir", str(tmp_path / "r2"), "--quiet")
    assert done.returncode == 0, done.stderr
    (run2,) = (tmp_path / "r2").iterdir()
    resumed = run_cli("resume", str(run2), "--quiet")
    assert resumed.returncode == 0, resumed.stderr
    assert "up to step 28" in resumed.stdout  # target 8 reached: the preset's 20 more
    assert checkpoint.read_meta(run2 / "checkpoint.npz")["step"] == 28


def test_run_folder_files_share_one_file_mode(tmp_path):
    """preset.toml, checkpoint.npz and exported models were 0600 (mkstemp), the logs 0644."""
    from tui_mtl.fileio import FILE_MODE

    preset_file = tmp_path / "tiny.toml"
    preset_file.write_text(tiny_preset().to_toml())
    runs = tmp_path / "runs"
    assert run_cli("run", str(preset_file), "--steps", "3", "--runs-dir", str(runs), "--quiet").returncode == 0
    (run,) = runs.iterdir()
    out = tmp_path / "m.keras"
    assert run_cli("export", str(run), "--model", str(out)).returncode == 0
    modes = {p.name: p.stat().st_mode & 0o777 for p in (run / "preset.toml", run / "checkpoint.npz",
                                                       run / "metrics.csv", run / "events.jsonl", out)}
    assert set(modes.values()) == {FILE_MODE}, modes
