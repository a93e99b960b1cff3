"""Multi-device training (tf.distribute.MirroredStrategy), tested by splitting the CPU in two.

The check runs in a subprocess: logical devices must be configured before TensorFlow starts.
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tui_mtl.devices import parse_device_list

# every update rule's code path (cagrad shares mgda's) and every weighting that keeps state
# (pcgrad's random order is drawn once per global step, in cross-replica context: exact too)
EXACT = ["summed", "grouped", "alternating", "mgda", "pcgrad", "summed+uncertainty", "grouped+dwa",
         "summed+gradnorm", "summed+famo", "grouped:scaled", "mgda:ub"]
FUSED = ["summed:fused", "grouped+dwa:fused", "summed+famo:fused"]  # several steps per call
FP16 = ["grouped:fp16"]  # float16 sums differ by device count: the overflow path is run, not compared
# tui_mtl.keras.MultiTaskModel in Keras' fit: a layout each, an aggregator, a weighting with its own
# gradients, FAMO's second forward pass after the step, and fit called inside the scope
KERAS = ["summed", "pcgrad@grouped", "summed+uncertainty", "summed+famo", "grouped:inside"]


@pytest.fixture(scope="module")
def results():
    # ~155 s alone; 460 s in CI beside another pytest worker on 2 cores (the limit is for a hang)
    script = Path(__file__).with_name("distributed_check.py")
    done = subprocess.run([sys.executable, str(script), "4", ",".join(EXACT + FP16 + FUSED),
                           ",".join(KERAS)],
                          capture_output=True, text=True, timeout=1500)
    assert done.returncode == 0, done.stderr[-3000:]
    line = next(line for line in done.stdout.splitlines() if line.startswith("RESULT "))
    return json.loads(line[len("RESULT "):])


@pytest.mark.slow
@pytest.mark.parametrize("strategy", EXACT)
def test_two_devices_train_exactly_like_one_on_the_same_global_batches(results, strategy):
    result = results[strategy]
    assert result["replicas"] == 2
    assert result["moved"] > 1e-2  # training really moved the weights
    assert result["diff"] <= 1e-5
    assert result["loss_diff"] <= 1e-5  # reported losses are global means, not one replica's
    assert result["diagnostics"]
    assert result["mirrored"]  # optimizers made after a switch were made inside the scope
    if strategy.endswith(":scaled"):  # 6 clean steps, doubling after 4: updated once per global step
        assert result["loss_scales"] == [None, [2048.0, 2]]


@pytest.mark.slow
@pytest.mark.parametrize("strategy", FUSED)
def test_fused_steps_on_two_devices_train_exactly_like_one(results, strategy):
    result = results[strategy]
    assert result["replicas"] == 2 and result["fused"]  # plain steps went through the fused function
    assert result["moved"] > 1e-2
    assert result["diff"] <= 1e-5 and result["loss_diff"] <= 1e-5


@pytest.mark.slow
@pytest.mark.parametrize("strategy", FP16)
def test_fp16_overflow_steps_are_skipped_on_two_devices_too(results, strategy):
    result = results[strategy]
    assert result["replicas"] == 2 and result["mirrored"]
    scale, _clean = result["loss_scales"][1]
    assert result["overflow_skips"] >= 1 and scale == 2.0 ** 24 / 2 ** result["overflow_skips"]
    assert not result["paused"]  # overflow halves the scale, it does not pause
    assert result["moved"] > 1e-3 and result["diff"] <= 1e-2  # then it trains, as on one device


def test_device_lists_parse_and_bad_ones_are_named():
    assert parse_device_list("all") == "all"
    assert parse_device_list("0, 2") == [0, 2]
    assert parse_device_list(None) is None
    with pytest.raises(ValueError, match="'x' is not a device index"):
        parse_device_list("0,x")
    with pytest.raises(ValueError, match="twice"):
        parse_device_list("1,1")


def test_bf16_computes_in_bfloat16_with_float32_outputs_and_trains():
    import keras
    import numpy as np

    from tests.conftest import tiny_preset
    from tui_mtl.engine import Session

    session = Session(tiny_preset(), mixed_precision="bf16")
    trunk_dense = session.model.get_layer("trunk_2_dense")
    assert trunk_dense.compute_dtype == "bfloat16" and trunk_dense.variable_dtype == "float32"
    outputs = session.model(np.zeros((2, 8, 8, 1), "float32"))
    assert all(out.dtype == "float32" for out in outputs.values())
    assert keras.config.dtype_policy().name == "float32"  # the global policy is left as it was
    first = session.validate()[0]
    session.run(60)
    assert session.validate()[0]["shape"] < first["shape"]


@pytest.mark.parametrize("flags,fragment", [
    (["--devices", "x"], "'x' is not a device index"),
    (["--devices", "0,1"], "no CPU device 1: 1 available (/device:CPU:0) (no GPU here"),  # one CPU device, no GPU
    (["--gpus", "3"], "no GPU 3"),
    (["--mixed-precision", "fp8"], "invalid choice: 'fp8'"),
])
def test_bad_device_options_exit_2_with_one_line(tmp_path, flags, fragment):
    from tests.conftest import tiny_preset

    preset = tmp_path / "tiny.toml"
    preset.write_text(tiny_preset().to_toml())
    done = subprocess.run([sys.executable, "-m", "tui_mtl", "run", str(preset), "--steps", "2", "--no-record",
                           *flags], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert fragment in done.stderr and "Traceback" not in done.stderr


@pytest.mark.slow
@pytest.mark.slow
@pytest.mark.parametrize("strategy", KERAS)
def test_keras_fit_of_the_wrapper_on_two_devices_trains_exactly_like_one(results, strategy):
    result = results["keras:" + strategy]
    assert result["replicas"] == 2
    assert result["moved"] > 1e-2
    assert result["diff"] <= 1e-5  # the same weights after 2 epochs as fit on one device
    assert result["log_diff"] <= 1e-5  # fit's logs are global means: loss, each head's, and val_ ones
    assert result["eval_diff"] <= 1e-5
    assert {"size_loss", "val_shape_loss"} <= set(result["logs"])


def test_a_later_session_with_other_shapes_trains_on_the_same_devices(results):
    """Each MirroredStrategy numbers its collective ops from the same start: a second strategy over the
    same devices reused the first one's numbers and its all-reduce failed ('Shape mismatch in the
    collective instance 100'), e.g. after picking another preset in the app with --devices."""
    assert results["later_session"] == {"state": "finished", "step": 3, "fault": None}


def test_the_keras_wrapper_names_what_does_not_run_on_two_devices(results):
    assert "variables were made outside strategy.scope() (e.g. trunk_0_conv2d/kernel)" in results["keras_outside"]
    assert results["keras_spe"].startswith("steps_per_execution > 1 does not run under a multi-device")
