"""A real terminal: `tui-mtl quickstart` in tmux, driven by send-keys and read with capture-pane."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import pytest

from tui_mtl.strategies.catalog import STRATEGY_NAMES

pytestmark = pytest.mark.slow

TMUX = shutil.which("tmux")
# a private tmux server: the tests never touch the user's sessions, and a server of their own reaps
# the app's process as soon as it exits
SOCKET = f"tui-mtl-tests-{os.getpid()}"


def tmux(*args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([TMUX, "-L", SOCKET, *args], **kwargs)


@pytest.fixture(scope="module", autouse=True)
def tmux_server():
    yield
    if TMUX is not None:
        tmux("kill-server", capture_output=True)


def gone(pid: int) -> bool:
    """The process has exited (a zombie not yet reaped has exited too)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except (FileNotFoundError, ProcessLookupError):
        return True


def wait_gone(pid: int, timeout: float) -> float | None:
    """Seconds until `pid` exited, or None if it still runs after `timeout`."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if gone(pid):
            return time.monotonic() - started
        time.sleep(0.02)
    return None


def console_script() -> list[str]:
    script = Path(sys.executable).parent / "tui-mtl"
    if script.exists():
        return [str(script)]
    found = shutil.which("tui-mtl")
    return [found] if found else [sys.executable, "-m", "tui_mtl"]


class Pane:
    def __init__(self, name: str):
        self.name = name
        self.seen: list[str] = []  # every screen captured

    def keys(self, *keys: str, literal: bool = False) -> None:
        tmux("send-keys", "-t", self.name, *(["-l"] if literal else []), *keys, check=True)
        time.sleep(0.2)  # a person types slower than send-keys

    def text(self) -> str:
        text = tmux("capture-pane", "-p", "-t", self.name, check=True, capture_output=True, text=True).stdout
        self.seen.append(text)
        return text

    def wait_for(self, predicate, timeout: float, what: str) -> str:
        deadline = time.monotonic() + timeout
        while True:
            text = self.text()
            if predicate(text):
                return text
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}; the pane shows:\n{text}")
            time.sleep(0.2)


def row(text: str, head: str) -> list[str]:
    for line in text.splitlines():
        parts = line.split()
        if parts[:1] == [head] and len(parts) >= 5:
            return parts
    return []


def strategy_label(text: str) -> str | None:
    for line in text.splitlines():
        parts = line.split()
        if parts[:1] == ["Strategy"] and len(parts) > 1:
            return parts[1]
    return None


@pytest.mark.skipif(TMUX is None, reason="tmux is not installed (.ci/run installs it with apt-get)")
def test_real_terminal_session(tmp_path):
    presets, runs = tmp_path / "presets", tmp_path / "runs"
    pidfile = tmp_path / "pid"
    name = f"tui-mtl-test-{os.getpid()}"
    command = " ".join(console_script()) + " quickstart"
    # COLUMNS/LINES from the test's environment would override the pane's real size
    shell = (f"echo $$ > {pidfile}; exec env -u COLUMNS -u LINES TUI_MTL_PRESETS_DIR={presets} TUI_MTL_RUNS_DIR={runs} "
             f"{command}")
    tmux("new-session", "-d", "-s", name, "-x", "120", "-y", "40", "sh", "-c", shell, check=True)
    pane = Pane(name)
    try:
        pane.wait_for(lambda t: "RUNNING" in t and row(t, "shape")[4:5] not in ([], ["—"]), 120,
                      "training to start")
        first = row(pane.text(), "shape")[4]
        text = pane.wait_for(lambda t: row(t, "shape")[4:5] not in ([], [first]), 20, "the loss to change")
        assert row(text, "shape")[4] != first

        assert strategy_label(text) == "summed"
        pane.keys("s")
        pane.wait_for(lambda t: strategy_label(t) == STRATEGY_NAMES[1], 10, "the strategy label to change")

        assert row(pane.text(), "shape")[3] == "1e-03"
        pane.keys("]")
        pane.wait_for(lambda t: row(t, "shape")[3] == "2e-03", 10, "the shape rate to double")

        pane.keys("C-s")
        pane.wait_for(lambda t: "Save the session as a preset" in t, 10, "the save dialog")
        pane.keys("C-u")
        pane.keys("tmux-saved", literal=True)
        pane.keys("Enter")
        saved = presets / "tmux-saved.toml"
        deadline = time.monotonic() + 10
        while not saved.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert saved.exists(), pane.text()
        check = subprocess.run([*console_script(), "presets", "check", str(saved)], capture_output=True,
                               text=True, timeout=60)
        assert check.returncode == 0, check.stdout + check.stderr
        data = tomllib.loads(saved.read_text())
        assert data["strategy"]["name"] == STRATEGY_NAMES[1]
        shape = next(h for h in data["model"]["heads"] if h["name"] == "shape")
        assert shape["learning_rate"] == pytest.approx(2e-3)

        pid = int(pidfile.read_text())
        pane.keys("q")
        if wait_gone(pid, 15) is None:
            raise AssertionError(f"tui-mtl (pid {pid}) still running 15 s after q; the pane:\n{pane.text()}")
        logs = list(runs.glob("*/stderr.log"))
        assert logs, "fd 2 was not redirected into the run folder"
        # TensorFlow's native log lines (absl: I0000/W0000/E0000 ...) went there, never onto the screen
        assert not any(re.search(r"^[IWE]\d{4} ", text, re.M) for text in pane.seen)
    finally:
        tmux("kill-session", "-t", name, capture_output=True)


@pytest.mark.skipif(TMUX is None, reason="tmux is not installed (.ci/run installs it with apt-get)")
@pytest.mark.parametrize("sig", ["SIGTERM", "SIGHUP"])
def test_signal_stops_at_a_step_writes_the_checkpoint_and_exits(tmp_path, sig):
    """kill -TERM / -HUP (an SSH connection dropping) while training: the worker stops at the next step,
    the final checkpoint is written, the terminal is restored and the process exits within 2 s."""
    import signal

    from tui_mtl.engine.checkpoint import read_meta

    runs, pidfile = tmp_path / "runs", tmp_path / "pid"
    name = f"tui-mtl-sig-{os.getpid()}-{sig}"
    command = " ".join(console_script()) + " quickstart"
    shell = (f"echo $$ > {pidfile}; env -u COLUMNS -u LINES TUI_MTL_RUNS_DIR={runs} {command}; "
             f"echo exit=$?; sleep 30")
    tmux("new-session", "-d", "-s", name, "-x", "120", "-y", "40", "sh", "-c", shell, check=True)
    pane = Pane(name)
    try:
        pane.wait_for(lambda t: "RUNNING" in t and row(t, "shape")[4:5] not in ([], ["—"]), 120, "training")
        shell_pid = int(pidfile.read_text())
        children = subprocess.run(["pgrep", "-P", str(shell_pid)], capture_output=True, text=True).stdout.split()
        assert len(children) == 1, children
        pid = int(children[0])
        os.kill(pid, getattr(signal, sig))
        took = wait_gone(pid, 10)
        print(f"{sig}: exited {took} s after the signal")
        text = pane.wait_for(lambda t: "exit=" in t, 5, "the shell to print the exit code")
        assert took is not None and took < 2.0, f"{sig}: still running {took} s after the signal"
        assert "exit=0" in text
        assert "RUNNING" not in text  # the terminal is restored: the dashboard is gone from the screen
        (run,) = runs.iterdir()
        meta = read_meta(run / "checkpoint.npz")
        assert meta["step"] > 0 and meta["preset"] == "quickstart"
        assert (run / "metrics.csv").stat().st_size > 0
    finally:
        tmux("kill-session", "-t", name, capture_output=True)


@pytest.mark.skipif(TMUX is None, reason="tmux is not installed (.ci/run installs it with apt-get)")
def test_a_quick_q_while_loading_exits_and_leaves_no_empty_run_folder(tmp_path):
    """q while TensorFlow still loads: the process ends with 0 and no run folder holding only a stderr
    log of TensorFlow's start-up lines is left behind (one was, every time)."""
    runs = tmp_path / "runs"
    name = f"tui-mtl-quick-q-{os.getpid()}"
    command = " ".join(console_script()) + " quickstart"
    shell = f"env -u COLUMNS -u LINES TUI_MTL_RUNS_DIR={runs} {command}; echo exit=$?; sleep 30"
    tmux("new-session", "-d", "-s", name, "-x", "80", "-y", "24", "sh", "-c", shell, check=True)
    pane = Pane(name)
    try:
        pane.wait_for(lambda t: "LOADING" in t, 30, "the first frame")
        assert runs.is_dir() and len(list(runs.iterdir())) == 1  # the folder exists while loading
        pane.keys("q")
        text = pane.wait_for(lambda t: "exit=" in t, 30, "the app to exit")
        assert "exit=0" in text
        assert list(runs.iterdir()) == []
    finally:
        tmux("kill-session", "-t", name, capture_output=True)
