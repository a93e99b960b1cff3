"""Run as a script (the test splits the CPU into 2 logical devices before TensorFlow starts): a fork
placed on the two devices, and `compare --devices 0,1`, against the same on one device. Prints JSON:
where each branch's variables live and the largest weight difference per branch; the CLI's results."""

import contextlib
import io
import json
import os
import sys
import tempfile
from pathlib import Path

os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

from tests.conftest import tiny_preset  # noqa: E402
from tui_mtl.cli import main  # noqa: E402
from tui_mtl.devices import device_names  # noqa: E402
from tui_mtl.engine import Session, fork  # noqa: E402

STRATEGIES = ["summed", "grouped", "pcgrad"]


def device_of(variable) -> str:
    tf_variable = variable if isinstance(variable, tf.Variable) else variable.value  # Keras wraps its own
    return tf_variable.device.rsplit("device:", 1)[-1]


def forked(devices):
    parent = Session(tiny_preset(), report_interval=3600.0)
    parent.run(3)
    comparison = fork(parent, STRATEGIES, devices=devices)
    comparison.run(6)
    return comparison


placed, alone = forked(device_names([0, 1])), forked(None)
engine = {}
for name, branch in placed.branches.items():
    state = branch.stepper.strategy(branch.strategy).state().values()
    engine[name] = {"model": sorted({device_of(v) for v in branch.model.weights}),
                    "optimizers": sorted({device_of(v) for v in state}),
                    "diff": max(float(np.max(np.abs(a - b))) for a, b in
                                zip(branch.model.get_weights(), alone.branches[name].model.get_weights())),
                    "moved": max(float(np.max(np.abs(a - b))) for a, b in
                                 zip(branch.model.get_weights(), branch.stepper.initial_weights))}

cli = {}
with tempfile.TemporaryDirectory() as folder:
    preset_file = Path(folder) / "tiny.toml"
    preset_file.write_text(tiny_preset().to_toml())
    for key, extra in (("placed", ["--devices", "0,1"]), ("alone", [])):
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            code = main(["compare", str(preset_file), "--strategies", "summed,grouped", "--seeds", "2", "--steps",
                         "10", "--quiet", "--runs-dir", str(Path(folder) / key), *extra])
        (run,) = (Path(folder) / key).iterdir()
        cli[key] = {"code": code, "out": out.getvalue(),
                    "results": json.loads((run / "comparison.json").read_text())["results"]}
print(json.dumps({"engine": engine, "cli": cli}))
