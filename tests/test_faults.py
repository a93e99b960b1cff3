"""Faults in training: a non-finite step is not applied, training pauses, the message says what to do."""

import threading
import time

import numpy as np

from tests.conftest import tiny_preset, wait_for
from tui_mtl.engine import Session


def test_a_nan_step_is_skipped_and_pauses_with_a_message_naming_head_and_step():
    preset = tiny_preset(training={"optimizer": {"name": "sgd"}, "diagnostics_every": 0})
    session = Session(preset, report_every=1)
    session.run(2)
    session.set_lr("size", 1e30)  # the next step throws the size head's weights to ~1e29...
    reports = []
    session.subscribe(reports.append)
    snapshots = []
    worker = threading.Thread(target=session.run, args=(10,))
    worker.start()
    try:
        assert wait_for(lambda: any(r.message for r in reports))
        paused = next(r for r in reports if r.message)
        snapshots.append([v.numpy().copy() for v in session.state_variables()])
        assert paused.state == "paused"
        # ...so the step after that one has an infinite loss on `size`: that step is the one refused
        assert "head 'size'" in paused.message and "step 4" in paused.message
        assert "lower size's learning rate" in paused.message
        assert session.paused and session.step_count == 4
        time.sleep(0.2)
        assert session.step_count == 4  # stays paused
        # the kept weights are those after step 3: finite, even though they are wild
        assert all(np.all(np.isfinite(v)) for v in snapshots[0])
        kinds = [e.kind for e in session.events]
        assert kinds[-1] == "nonfinite"
        # lower the rate, put sane weights back (restart), resume: training goes on
        session.set_lr("size", 0.01)
        session.reset()
        session.resume()
        assert wait_for(lambda: reports[-1].state == "finished" or session.step_count >= 5)
    finally:
        session.stop()
        worker.join(timeout=20)
    assert not worker.is_alive()


def test_a_skipped_step_changes_no_variable():
    session = Session(tiny_preset(strategy={"name": "grouped"}, training={"diagnostics_every": 0}))
    session.run(2)
    before = [v.numpy().copy() for v in session.state_variables()]
    session.set_loss_scale("bright", 1e38)
    session.set_weight("bright", 1e38)  # w * s * L overflows float32: the objective and gradients are not finite
    reports = []
    session.subscribe(reports.append)
    worker = threading.Thread(target=session.run, args=(1,))
    worker.start()
    assert wait_for(lambda: any(r.message for r in reports))
    session.stop()
    worker.join(timeout=20)
    after = [v.numpy() for v in session.state_variables()]
    assert all(np.array_equal(a, b) for a, b in zip(before, after))
    message = next(r.message for r in reports if r.message)
    assert "non-finite value in a gradient at step 3" in message


def test_sigterm_and_sighup_stop_a_headless_run_cleanly_with_a_checkpoint(tmp_path):
    import os
    import signal
    import subprocess
    import sys

    from tui_mtl.engine import checkpoint

    preset = tmp_path / "tiny.toml"
    preset.write_text(tiny_preset().to_toml())
    for sig in (signal.SIGTERM, signal.SIGHUP):
        runs = tmp_path / f"runs-{sig.name}"
        proc = subprocess.Popen([sys.executable, "-m", "tui_mtl", "run", str(preset), "--steps", "1000000",
                                 "--runs-dir", str(runs)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
        try:
            for line in proc.stdout:  # wait until it trains
                if line.startswith("step "):
                    break
            sent = time.time()
            proc.send_signal(sig)
            out, err = proc.communicate(timeout=30)
            took = time.time() - sent
        finally:
            proc.kill()
        assert proc.returncode == 0, err
        assert f"{sig.name}: stopping at the next step" in err
        assert took < 10  # the final checkpoint and table included; most of it is the validation table
        (run,) = runs.iterdir()
        meta = checkpoint.read_meta(run / "checkpoint.npz")
        assert 0 < meta["step"] < 1000000
        assert "run folder:" in out


def test_out_of_device_memory_becomes_one_clear_message(tiny):
    import pytest
    import tensorflow as tf

    from tui_mtl.engine import DeviceMemoryError

    session = Session(tiny)
    reports = []
    session.subscribe(reports.append)

    def exhausted(*args):
        raise tf.errors.ResourceExhaustedError(None, None, "OOM when allocating tensor with shape[4096,4096]")

    session._step_fns["summed"] = exhausted
    with pytest.raises(DeviceMemoryError, match="ran out of memory; try a smaller training.batch_size"):
        session.run(3)
    assert reports[-1].state == "error" and "smaller training.batch_size" in reports[-1].message


def test_a_checkpoint_that_cannot_be_written_does_not_stop_training(tiny, tmp_path):
    session = Session(tiny)
    session.run(2)
    done = []
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the folder should be")
    session.save_checkpoint(blocked / "checkpoint.npz", on_done=lambda path, err: done.append((path, err)))
    assert done and done[0][0] is None and isinstance(done[0][1], OSError)
    assert session.events[-1].kind == "checkpoint" and "not saved" in session.events[-1].text
    session.run(2)  # training goes on
    assert session.step_count == 4
    good = tmp_path / "ck.npz"
    session.save_checkpoint(good, on_done=lambda path, err: done.append((path, err)))
    assert done[-1] == (good, None) and good.is_file()


def test_a_closed_comparison_does_not_run_again(tiny):
    comparison = Session(tiny).fork(["summed", "grouped"])
    comparison.close()
    comparison.run(5)
    assert comparison.step_count == 0
