"""The entry point's contract: refusing a bad preset before the UI starts, fd 2 redirected and restored."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from .conftest import started, wait_until


def test_run_app_refuses_a_bad_preset_without_starting(capsys):
    from tui_mtl.ui.app import run_app

    assert run_app("no-such-preset-anywhere") == 2
    assert "unknown preset 'no-such-preset-anywhere'" in capsys.readouterr().err


def test_stderr_goes_to_the_run_log_and_comes_back(tmp_path):
    """Run in a child process: fd 2 is redirected, attached to a log, then restored."""
    log = tmp_path / "stderr.log"
    code = f"""
import os, sys
from tui_mtl.ui.stderr import StderrRedirect
with StderrRedirect() as redirect:
    os.write(2, b"before attach\\n")       # native code writing to fd 2
    redirect.attach({str(log)!r})
    os.write(2, b"after attach\\n")
    redirect.terminal.write("to the terminal\\n"); redirect.terminal.flush()
os.write(2, b"restored\\n")
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=60)
    assert log.read_text() == "before attach\nafter attach\n"
    assert result.stderr.decode() == "to the terminal\nrestored\n"


def test_captured_stderr_is_replayed_when_no_run_folder_was_made():
    code = """
import os
from tui_mtl.ui.stderr import StderrRedirect
with StderrRedirect():
    os.write(2, b"an early warning\\n")
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=60)
    assert result.stderr.decode() == "an early warning\n"


def test_fps_cap_reaches_textual(monkeypatch):
    import textual.constants
    import textual.screen

    monkeypatch.setenv("TEXTUAL_FPS", "60")  # restored after the test
    monkeypatch.setattr(textual.constants, "MAX_FPS", textual.constants.MAX_FPS)

    from tui_mtl.ui.app import apply_fps

    before = textual.screen.UPDATE_PERIOD
    try:
        apply_fps(12)
        assert textual.screen.UPDATE_PERIOD == 1 / 12
        assert os.environ["TEXTUAL_FPS"] == "12"
    finally:
        textual.screen.UPDATE_PERIOD = before


def test_ui_device_options_are_checked_before_the_ui(capsys):
    from tui_mtl.cli import main
    from tui_mtl.cli.cmd_ui import parser

    assert main(["quickstart", "--gpus", "0,x"]) == 2
    assert "--gpus/--devices" in capsys.readouterr().err
    args = parser().parse_args(["--devices", "all", "--mixed-precision", "bf16", "--no-memory-growth"])
    assert (args.devices, args.mixed_precision, args.no_memory_growth) == ("all", "bf16", True)


def test_ui_passes_device_options_to_the_app(monkeypatch):
    seen = {}

    def fake_run_app(preset, **kwargs):
        seen.update(kwargs, preset=preset)
        return 0

    monkeypatch.setattr("tui_mtl.ui.app.run_app", fake_run_app)
    from tui_mtl.cli import main

    assert main(["quickstart", "--gpus", "0,2", "--devices", "0,1", "--mixed-precision", "bf16"]) == 0
    devices = seen["devices"]
    assert (devices.gpus, devices.devices, devices.mixed_precision, devices.memory_growth) == ([0, 2], [0, 1],
                                                                                               "bf16", True)


def test_the_ui_takes_every_precision_and_names_a_bad_one():
    from tui_mtl.devices import DeviceOptions

    assert DeviceOptions(mixed_precision="fp16").mixed_precision == "fp16"
    assert DeviceOptions().mixed_precision is None  # the default, or a resumed run's own
    with pytest.raises(ValueError, match="'fp8': use one of off, bf16, fp16"):
        DeviceOptions(mixed_precision="fp8")


def test_a_run_resumed_from_the_picker_keeps_its_precision(tmp_path):
    import json

    import numpy as np

    from tui_mtl.ui.app import saved_precision

    checkpoint_file = tmp_path / "checkpoint.npz"
    meta = json.dumps({"format": 1, "mixed_precision": "fp16"}).encode()
    np.savez(checkpoint_file, meta=np.frombuffer(meta, dtype=np.uint8))
    assert saved_precision(checkpoint_file) == "fp16"
    assert saved_precision(tmp_path / "missing.npz") is None  # the worker reports the bad file


def test_ui_modules_do_not_import_tensorflow():
    """The first frame appears before TensorFlow loads: nothing the app imports at start pulls it in."""
    code = ("import sys; import tui_mtl.ui.app, tui_mtl.ui.screens.dashboard, tui_mtl.engine; "
            "print('tensorflow' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.stdout.strip() == "False", result.stderr


async def test_the_app_trains_a_session_handed_to_it_by_a_factory():
    """`tui-mtl --factory` / run_app(session_factory=...): the dashboard serves that very Session."""
    import keras
    import numpy as np

    from tui_mtl.engine import Session
    from tui_mtl.ui.app import HandedSession, TuiMtlApp

    image = keras.Input(shape=(8, 8, 1))
    z = keras.layers.Dense(8, activation="relu")(keras.layers.Flatten()(image))
    model = keras.Model(image, {"a": keras.layers.Dense(1, name="a")(z), "b": keras.layers.Dense(1, name="b")(z)})
    rng = np.random.default_rng(0)
    x = rng.random((128, 8, 8, 1)).astype("float32")
    session = Session.from_model(model, {"a": {"kind": "regression"}, "b": {"kind": "regression"}},
                                 (x, {"a": x.mean(axis=(1, 2, 3)), "b": x.max(axis=(1, 2, 3))}),
                                 training={"batch_size": 16, "steps": 60, "validate_every": 20}, strategy="grouped",
                                 report_interval=0.05)
    before = [np.array(w) for w in model.get_weights()]

    app = TuiMtlApp(session.preset, None, session_factory=HandedSession(session, None), make_run_dir=False)
    async with app.run_test(size=(120, 40)):
        dash = await started(app)
        assert dash.session is session
        await wait_until(lambda: session.step_count >= 60, what="the handed session's 60 steps")
        assert dash.model.report.step > 0
    assert max(float(np.max(np.abs(a - b))) for a, b in zip(before, model.get_weights())) > 1e-4


def test_factory_references_are_checked_before_the_ui(capsys):
    from tui_mtl.cli.main import main

    assert main(["--factory", "no colon"]) == 2
    assert "--factory: 'no colon' is not a function" in capsys.readouterr().err
    assert main(["quickstart", "--factory", "mod:make"]) == 2
    assert "give a preset or --factory, not both" in capsys.readouterr().err
