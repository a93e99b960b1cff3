"""`tui-mtl serve`: the textual-serve server it builds, its refusals, and a real server on a free port."""

from __future__ import annotations

import asyncio
import os
import shlex
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from tui_mtl.cli import main
from tui_mtl.presets import shipped_presets_dir


class FakeServer:
    """Records what cmd_serve hands to textual_serve.server.Server, and does not listen."""

    made: list["FakeServer"] = []

    def __init__(self, command, host="localhost", port=8000, title=None, public_url=None):
        self.command, self.host, self.port, self.title = command, host, port, title
        self.public_url = public_url or f"http://{host}:{port}"
        self.served = False
        FakeServer.made.append(self)

    def serve(self, debug=False):
        self.served = True


@pytest.fixture
def fake_server(monkeypatch):
    textual_serve_server = pytest.importorskip("textual_serve.server")
    FakeServer.made = []
    monkeypatch.setattr(textual_serve_server, "Server", FakeServer)
    return FakeServer.made


def test_serve_defaults_run_this_python_s_app_on_localhost_8000(fake_server, capsys):
    assert main(["serve"]) == 0
    [server] = fake_server
    assert (server.host, server.port, server.title, server.served) == ("127.0.0.1", 8000, "tui-mtl", True)
    assert shlex.split(server.command) == [sys.executable, "-m", "tui_mtl", "--fps", "30"]
    out = capsys.readouterr().out
    assert "serving on http://127.0.0.1:8000" in out and "each browser tab runs its own session" in out


def test_serve_options_and_preset_reach_the_server_and_each_tab_s_command(fake_server, tmp_path):
    runs = tmp_path / "runs here"
    assert main(["serve", "quickstart", "--host", "0.0.0.0", "--port", "9123", "--public-url",
                 "https://box.example/mtl", "--fps", "12", "--runs-dir", str(runs)]) == 0
    [server] = fake_server
    assert (server.host, server.port, server.public_url) == ("0.0.0.0", 9123, "https://box.example/mtl")
    quickstart = (shipped_presets_dir() / "quickstart.toml").resolve()
    assert shlex.split(server.command) == [sys.executable, "-m", "tui_mtl", str(quickstart), "--fps", "12",
                                           "--runs-dir", str(runs.resolve())]
    # the command each tab runs is a valid tui-mtl command line (here asking only for the version)
    argv = shlex.split(server.command)[:3] + ["--version"]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and result.stdout.startswith("tui-mtl "), result.stderr


@pytest.mark.parametrize("argv, expected", [
    (["--port", "0"], "--port must be between 1 and 65535, got 0"),
    (["--port", "70000"], "--port must be between 1 and 65535, got 70000"),
    (["--fps", "0"], "--fps: must be a positive whole number, got '0'"),
    (["nope"], "unknown preset 'nope'"),
])
def test_serve_refuses_bad_input_with_exit_2_and_one_line(fake_server, capsys, argv, expected):
    assert main(["serve", *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("tui-mtl: error: ") and expected in err and err.count("\n") == 1, err
    assert fake_server == []


def test_serve_refuses_an_invalid_preset_file_before_serving(fake_server, tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text("name = ", encoding="utf-8")
    assert main(["serve", str(bad)]) == 2
    assert "bad.toml: not valid TOML" in capsys.readouterr().err
    assert fake_server == []


def test_serve_without_textual_serve_says_how_to_install_it(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "textual_serve.server", None)  # import fails as if not installed
    assert main(["serve"]) == 2
    assert "pip install 'tui-mtl[serve]'" in capsys.readouterr().err


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def _tab_sees_the_picker(port: int, deadline: float) -> bytes:
    """One browser tab: a websocket to /ws; the app's screen arrives as terminal bytes."""
    import aiohttp

    screen = b""
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(f"http://127.0.0.1:{port}/ws?width=100&height=30") as ws:
            while b"quickstart" not in screen and time.monotonic() < deadline:
                try:
                    message = await asyncio.wait_for(ws.receive(), timeout=1)
                except asyncio.TimeoutError:
                    continue
                if message.type != aiohttp.WSMsgType.BINARY and message.type != aiohttp.WSMsgType.TEXT:
                    break
                if message.type == aiohttp.WSMsgType.BINARY:
                    screen += message.data
    return screen


def test_a_real_server_on_a_free_port_gives_every_tab_its_own_app(tmp_path):
    pytest.importorskip("textual_serve")
    pytest.importorskip("aiohttp")
    port = _free_port()
    server = subprocess.Popen([sys.executable, "-m", "tui_mtl", "serve", "--port", str(port)], cwd=tmp_path,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        page = None
        while page is None and time.monotonic() < deadline:
            assert server.poll() is None, server.stdout.read().decode(errors="replace")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as response:
                    page = response.read().decode()
            except OSError:
                time.sleep(0.2)
        assert page is not None and f"ws://127.0.0.1:{port}/ws" in page

        async def two_tabs():
            return await asyncio.gather(_tab_sees_the_picker(port, deadline), _tab_sees_the_picker(port, deadline))

        screens = asyncio.run(two_tabs())
        assert all(b"quickstart" in screen for screen in screens)  # two tabs, two apps, each at its picker
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGTERM)  # its own session: the server and any app it started
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
                server.wait(timeout=10)
        server.stdout.close()
