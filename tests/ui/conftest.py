"""Fixtures for the UI tests: an app wired to a fake (TF-free) session, and a polling helper."""

from __future__ import annotations

import asyncio
import inspect
import time

import pytest

from .fakes import FakeSession, fake_device


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem):
    """Run `async def` tests with asyncio.run (no asyncio plugin needed)."""
    if inspect.iscoroutinefunction(pyfuncitem.obj):
        args = {name: pyfuncitem.funcargs[name] for name in pyfuncitem._fixtureinfo.argnames}
        asyncio.run(pyfuncitem.obj(**args))
        return True
    return None


@pytest.fixture(autouse=True)
def _isolated_dirs(tmp_path, monkeypatch):
    """User presets and run folders go to a temporary folder in every UI test."""
    monkeypatch.setenv("TUI_MTL_PRESETS_DIR", str(tmp_path / "presets"))
    monkeypatch.setenv("TUI_MTL_RUNS_DIR", str(tmp_path / "runs"))
    return tmp_path


def fake_recorder(run_dir, session):
    """The real RunRecorder without TensorBoard (which needs TensorFlow)."""
    from tui_mtl.recorder import RunRecorder

    return RunRecorder(run_dir, session, tensorboard=False)


def make_app(preset_name: str | None = "quickstart", *, sessions: list | None = None, record: bool = False,
             **fake_kwargs):
    """A TuiMtlApp whose sessions are FakeSessions; each session built is appended to `sessions`.

    `record`: give the dashboard a run folder (under TUI_MTL_RUNS_DIR) written by the real RunRecorder."""
    from tui_mtl.presets import find_preset_path, read_preset
    from tui_mtl.ui.app import TuiMtlApp

    built = sessions if sessions is not None else []

    def factory(preset, _base_dir):
        session = FakeSession(preset, **fake_kwargs)
        built.append(session)
        return session

    preset = path = None
    if preset_name is not None:
        path = find_preset_path(preset_name)
        preset = read_preset(path)
    app = TuiMtlApp(preset, path, session_factory=factory, device_probe=fake_device, make_run_dir=record,
                    recorder_factory=fake_recorder)
    app.sessions = built
    return app


async def wait_until(predicate, timeout: float = 5.0, what: str = "condition") -> None:
    """Poll without Pilot's idle wait (which stalls while a training thread is busy)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.01)


@pytest.fixture
def app_factory():
    return make_app


async def press(app, *keys: str) -> None:
    """Send keys like Pilot.press, without its wait for an idle process (none while training runs).

    Tests then wait for the effect they assert with `wait_until`.
    """
    import unicodedata

    from textual import events
    from textual.keys import REPLACED_KEYS, _character_to_key, _get_unicode_name_from_key

    for key in keys:
        if len(key) == 1 and not key.isalnum():
            key = _character_to_key(key)
        original = REPLACED_KEYS.get(key, key)
        try:
            char = unicodedata.lookup(_get_unicode_name_from_key(original))
        except KeyError:
            char = key if len(key) == 1 else None
        event = events.Key(key, char)
        event.set_sender(app)
        await app._post_message(event)
        await _round_trip(app)
        await _round_trip(app.screen)
        if app.screen.focused is not None:
            await _round_trip(app.screen.focused)
        await asyncio.sleep(0.005)


async def _round_trip(pump) -> None:
    """Wait until `pump` has handled every message queued before this call (FIFO queues)."""
    done = asyncio.Event()
    pump.call_later(done.set)
    await asyncio.wait_for(done.wait(), timeout=5)
