"""The entry point's contract: refusing a bad preset before the UI starts, fd 2 redirected and restored."""

from __future__ import annotations

import os
import subprocess
import sys



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
