"""Faults on the real engine: a non-finite step is not applied, nothing waits on a pause nobody can
lift, the message blames the change that caused it, rewind undoes it, and no raw trace escapes."""

import os
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from tests.conftest import tiny_preset, wait_for
from tui_mtl.engine import Session, State


def arrays(session) -> dict:
    return session.capture().arrays


def test_run_returns_when_training_diverges_and_names_step_head_and_the_change():
    """The hang: run() used to wait forever on the fault's pause. Now it returns (state FAULTED)."""
    preset = tiny_preset(training={"optimizer": {"name": "sgd"}, "diagnostics_every": 0})
    session = Session(preset, report_every=1)
    session.run(2)
    session.set_lr("size", 1e30)  # the next step throws the size head's weights to ~1e29...
    started = time.time()
    report = session.run(10)
    assert time.time() - started < 30
    assert report.state is State.FAULTED and session.state is State.FAULTED
    fault = report.fault
    # ...so the step after that one has an infinite loss on `size`: that step is the one refused
    assert fault.step == 4 and session.step_count == 4 and "size" in fault.heads
    assert "step 4: non-finite loss in size" in fault.summary
    assert fault.blamed == "size lr=1e+30 at step 2" and "2 steps after size lr=1e+30" in fault.summary
    assert fault.rewind_step == 2
    assert all(np.all(np.isfinite(v)) for v in arrays(session).values())  # the kept state is finite
    assert session.events[-1].kind == "nonfinite"


def test_blame_names_the_head_whose_rate_was_raised_not_the_first_head():
    """Setting x's rate to 1e9 used to blame `size` (the first head with a non-finite loss)."""
    session = Session(tiny_preset(training={"diagnostics_every": 0}))
    session.run(5)
    session.set_lr("bright", 1e9)
    session.set_lr("trunk", 1e9)
    report = session.run(50)
    assert report.state is State.FAULTED
    assert report.fault.blamed.startswith("trunk lr=1e+09")  # the latest change
    assert "after trunk lr=1e+09" in report.fault.summary


@pytest.mark.parametrize("strategy", ["summed", "grouped", "pcgrad@grouped", "alternating"])
def test_a_non_finite_gradient_names_the_head_it_came_from(strategy):
    """Finite losses, but shape's objective w * s * L overflows float32 and so do its gradients: the
    fault names shape (it used to say only "a non-finite gradient"), whether the trunk took one
    gradient or one per head."""
    session = Session(tiny_preset(strategy={"name": strategy}, training={"diagnostics_every": 0}))
    session.run(3)
    session.set_loss_scale("shape", 1e38)
    session.set_weight("shape", 1e38)
    report = session.run(6)
    step = 5 if strategy == "alternating" else 4  # alternating trains size at step 4, shape at 5
    assert report.state is State.FAULTED and report.fault.step == step
    assert f"step {step}: non-finite or overflowing gradient in shape" in report.fault.summary
    assert report.fault.heads == ()
    assert report.fault.blamed.startswith("shape weight=1e+38")


@pytest.mark.parametrize("strategy", ["summed", "grouped"])
def test_a_finite_gradient_whose_square_overflows_is_not_applied_and_the_weights_stay_finite(strategy):
    """Found by a newcomer: size's loss x 1e21 gives finite gradients of ~1e20, whose squares overflow
    Adam's second moment to inf and, a step later, the weights to NaN; every value the guard saw was
    finite. Now the step is not applied and the fault names size."""
    session = Session(tiny_preset(strategy={"name": strategy}, training={"diagnostics_every": 0}))
    session.run(3)
    session.set_loss_scale("size", 1e21)
    report = session.run(6)
    assert report.state is State.FAULTED
    assert f"step {report.fault.step}: non-finite or overflowing gradient in size" in report.fault.summary
    assert all(np.isfinite(w).all() for w in session.model.get_weights())  # the last good weights


def test_a_step_that_fails_in_the_graph_says_why_not_graph_execution_error():
    """A failing op's message opens with "Graph execution error:" and the stack where the node was
    made; the fault said only that. Now it gives the cause: the user's own assertion here."""
    import keras
    import tensorflow as tf

    class Guarded(keras.layers.Layer):
        def call(self, x):
            tf.debugging.assert_less(tf.reduce_max(x), -1.0, message="activations out of range in my layer")
            return x

    image = keras.Input(shape=(8, 8, 1))
    z = Guarded()(keras.layers.Dense(4)(keras.layers.Flatten()(image)))
    model = keras.Model(image, {"a": keras.layers.Dense(1, name="a")(z), "b": keras.layers.Dense(1, name="b")(z)})
    x = np.random.default_rng(0).random((64, 8, 8, 1), "float32")
    session = Session.from_model(model, {"a": {"kind": "regression"}, "b": {"kind": "regression"}},
                                 (x, {"a": x.mean((1, 2, 3)), "b": x.std((1, 2, 3))}))
    report = session.run(2)
    assert report.state is State.FAULTED
    assert "summed step failed (InvalidArgumentError: assertion failed: [activations out of range in my layer]" \
        in report.fault.summary


def test_lowering_a_rate_after_a_wreck_is_not_blamed_and_rewind_still_undoes_the_cause():
    """Found by a newcomer: after trunk lr=1e30 wrecked the weights, setting it back to 0.01 was
    blamed for the next fault, and rewind went back to before the fix (restoring 1e30)."""
    session = Session(tiny_preset(training={"diagnostics_every": 0}), snapshot_every=5)
    session.run(6)
    session.set_lr("trunk", 1e9)  # finite but huge: the next steps wreck the weights
    session.run(2)
    session.set_lr("trunk", 0.01)  # the fix, too late
    report = session.run(50)
    assert report.state is State.FAULTED
    assert report.fault.blamed.startswith("trunk lr=1e+09 at step 6") and report.fault.rewind_step == 6
    session.rewind()
    assert session.step_count == 6 and session.learning_rates["trunk"] == 0.01  # before the cause
    assert session.run(10).state is State.FINISHED


def test_rewind_undoes_the_change_and_training_goes_on():
    session = Session(tiny_preset(training={"diagnostics_every": 0}), snapshot_every=5)
    session.run(12)
    good = arrays(session)
    session.set_lr("trunk", 1e9)
    session.set_lr("size", 1e9)
    report = session.run(50)
    assert report.state is State.FAULTED and report.fault.rewind_step == 12
    session.rewind()
    assert session.step_count == 12 and session.state is State.PAUSED
    assert session.learning_rates["trunk"] == 0.01 and session.learning_rates["size"] == 0.01
    now = arrays(session)
    assert all(np.array_equal(now[k], v) for k, v in good.items())  # exactly the state before the change
    assert session.history.snapshot("size")["train"][0][-1] <= 12  # the plots went back too
    assert not any(e.text.startswith("trunk lr=1e+09") for e in session.events)
    report = session.run(20)
    assert report.state is State.FINISHED and all(np.isfinite(v) for v in report.train_loss.values())


def test_rewind_without_a_fault_goes_back_before_the_latest_change_then_further():
    session = Session(tiny_preset(training={"diagnostics_every": 0}), snapshot_every=10)
    session.run(10)
    session.run(10)
    session.set_weight("shape", 5.0)
    session.run(3)
    session.rewind()
    assert session.step_count == 20 and session.weights["shape"] == 0.7
    session.rewind()
    assert session.step_count == 10
    session.rewind()
    assert session.step_count == 10 and session.events[-1].text == "nothing to rewind to"


def test_a_skipped_step_changes_no_variable():
    session = Session(tiny_preset(strategy={"name": "grouped"}, training={"diagnostics_every": 0}))
    session.run(2)
    before = arrays(session)
    session.set_loss_scale("bright", 1e38)
    session.set_weight("bright", 1e38)  # w * s * L overflows float32: the objective and gradients are not finite
    report = session.run(1)
    after = arrays(session)
    assert all(np.array_equal(v, after[k]) for k, v in before.items())
    assert report.state is State.FAULTED and report.fault.step == 3


def test_a_strategy_switch_after_a_wreck_never_raises_a_raw_error():
    """mgda on wrecked weights raised InvalidArgumentError (MatrixSolve) to the screen."""
    session = Session(tiny_preset(training={"diagnostics_every": 0}))
    session.run(3)
    session.set_lr("trunk", 1e20)
    session.run(20)
    for name in ("mgda", "cagrad", "pcgrad@grouped", "mgda@grouped+uncertainty"):
        session.set_strategy(name)
        report = session.run(3)  # no exception: either it trains or the step is refused with a message
        assert report.state in (State.FINISHED, State.FAULTED), name
        if report.state is State.FAULTED:
            assert report.fault.summary.startswith(f"step {report.fault.step:,}")
    for _ in range(6):  # back through each switch to before the rate that wrecked the weights
        session.rewind()
    assert session.step_count == 3 and session.learning_rates["trunk"] == 0.01
    session.set_strategy("mgda")
    assert session.run(5).state is State.FINISHED


def test_resume_after_a_fault_continues_the_same_run():
    """Space in the error state used to append a whole new run (3,527/4,000 became 3,527/5,527)."""
    session = Session(tiny_preset(training={"diagnostics_every": 0}), report_interval=0.01)
    session.extend(60)
    worker = threading.Thread(target=session.serve)
    worker.start()
    try:
        assert wait_for(lambda: session.step_count >= 10)
        session.set_lr("trunk", 1e30)  # certain to overflow at whichever step it lands
        session.set_lr("size", 1e30)
        assert wait_for(lambda: session.state is State.FAULTED)
        assert session.target == 60
        session.rewind()
        assert wait_for(lambda: session.state is State.PAUSED)
        session.resume()
        assert wait_for(lambda: session.state is State.FINISHED, 30)
        assert session.step_count == 60 and session.target == 60
    finally:
        session.stop()
        worker.join(timeout=20)
    assert not worker.is_alive()


def test_out_of_device_memory_becomes_one_clear_message(tiny):
    import tensorflow as tf

    from tui_mtl.engine import DeviceMemoryError

    session = Session(tiny)
    reports = []
    session.subscribe(reports.append)

    def exhausted(*args):
        raise tf.errors.ResourceExhaustedError(None, None, "OOM when allocating tensor with shape[4096,4096]")

    session.stepper._steps["summed"] = session.stepper._fused_steps["summed"] = exhausted  # either path
    with pytest.raises(DeviceMemoryError, match="ran out of memory; try a smaller training.batch_size"):
        session.run(3)
    assert reports[-1].state is State.FAILED and "smaller training.batch_size" in reports[-1].message


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


def cli(*args, cwd, timeout=180):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONWARNINGS": "ignore"}
    return subprocess.run([sys.executable, "-m", "tui_mtl", *map(str, args)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)


def test_a_diverging_headless_run_exits_3_with_one_line_and_keeps_its_run_folder(tmp_path):
    preset = tmp_path / "tiny.toml"
    preset.write_text(tiny_preset().to_toml())
    runs = tmp_path / "runs"
    result = cli("run", preset, "--lr", "size=1e9", "--lr", "trunk=1e9", "--steps", "50", "--runs-dir", runs,
                 cwd=tmp_path)
    assert result.returncode == 3, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("tui-mtl: training diverged at step ")
    assert "non-finite loss" in lines[0] and "undo trunk lr=1e+09" in lines[0]
    assert "Traceback" not in result.stderr + result.stdout
    assert result.stdout.count(" steps in ") == 1  # the final line, once
    (run,) = runs.iterdir()
    assert (run / "checkpoint.npz").is_file() and (run / "metrics.csv").is_file()


def test_a_diverging_compare_exits_3_and_stars_no_nan(tmp_path):
    heads = tiny_preset().model.model_dump()["heads"]
    for head in heads:
        head["learning_rate"] = 1000.0
    preset = tmp_path / "wild.toml"
    preset.write_text(tiny_preset(model={"heads": heads}, training={"trunk_learning_rate": 1000.0}).to_toml())
    result = cli("compare", preset, "--strategies", "summed,grouped", "--steps", "40", "--runs-dir",
                 tmp_path / "runs", cwd=tmp_path)
    assert result.returncode == 3, result.stderr
    assert "diverged at step" in result.stdout
    rows = [line for line in result.stdout.splitlines() if line.split()[:1] in (["size"], ["shape"], ["bright"])]
    assert rows and not any(line.rstrip().endswith("*") for line in rows)
    assert sum(line.startswith("tui-mtl: training diverged in branch") for line in result.stderr.splitlines()) == 2
    (run,) = (tmp_path / "runs").iterdir()
    assert {p.name for p in (run / "branches").iterdir()} == {"summed", "grouped"}


def test_sigterm_and_sighup_stop_a_headless_run_cleanly_with_a_checkpoint(tmp_path):
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
