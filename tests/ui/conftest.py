"""Fixtures for the UI tests: the app on the real engine (a Session on a tiny preset), or — for pure
rendering — the real Session on a small fake stepper; a key sender and a polling helper."""

from __future__ import annotations

import asyncio
import inspect
import sys
import time
from pathlib import Path
from typing import Callable

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from conftest import dump_threads, tiny_preset  # noqa: E402

from .fakes import FakeStepper  # noqa: E402


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem):
    """Run `async def` tests with asyncio.run (no asyncio plugin needed)."""
    if inspect.iscoroutinefunction(pyfuncitem.obj):
        args = {name: pyfuncitem.funcargs[name] for name in pyfuncitem._fixtureinfo.argnames}
        asyncio.run(pyfuncitem.obj(**args))
        return True
    return None


@pytest.fixture(autouse=True)
def training_threads_end():
    """After each test, its training thread has returned: none runs on into the next test, or into the
    interpreter's exit (a thread inside TensorFlow then aborts the process: 'terminate called ...')."""
    yield
    import threading

    for thread in threading.enumerate():
        if thread.name == "training":
            thread.join(timeout=60)
            assert not thread.is_alive(), "a training thread still runs 60 s after its test"


def fake_device(session):
    return "CPU (test)", False


def quiet_recorder(run_dir, session):
    """The real RunRecorder without TensorBoard files (faster; TensorBoard has its own tests)."""
    from tui_mtl.runs.recorder import RunRecorder

    return RunRecorder(run_dir, session, tensorboard=False)


def ui_preset(**changes):
    """The tiny preset, long enough to watch (each real step takes ~1-2 ms)."""
    changes.setdefault("training", {})
    changes["training"] = {"steps": 400, "validate_every": 50, "diagnostics_every": 20, **changes["training"]}
    return tiny_preset(**changes)


PICKER = "the picker"  # make_app(PICKER): the app opens on the preset picker


def make_app(preset=None, *, engine: str = "real", record: bool = False, sessions: list | None = None,
             step_delay: float = 0.002, prepare=None, report_interval: float = 0.05, snapshot_every: int = 50,
             session_factory=None):
    """A TuiMtlApp on `preset` (a Preset, a shipped preset's name, or the UI tiny preset).

    `engine="real"`: each session is a real Session (TensorFlow) — for every flow that trains.
    `engine="fake"`: the real Session on FakeStepper — for rendering only. `prepare(session)` runs
    on each new session before the app serves it (e.g. to train a fixed history for a snapshot).
    Sessions built are appended to `sessions` (and `app.sessions`)."""
    from tui_mtl.engine import Session
    from tui_mtl.presets import find_preset_path, read_preset
    from tui_mtl.ui.app import TuiMtlApp

    built = sessions if sessions is not None else []
    path = None
    if preset is None:
        preset = ui_preset()
    elif preset is PICKER:
        preset = None
    elif isinstance(preset, str):
        path = find_preset_path(preset)
        preset = read_preset(path)

    def factory(p, _base_dir):
        fake = engine == "fake"
        stepper = FakeStepper(p, step_delay=step_delay) if fake else None
        session = Session(p, report_interval=report_interval, stepper=stepper, snapshot_every=snapshot_every,
                          **({"clock": stepper.clock} if fake else {}))
        if prepare is not None:
            prepare(session)
        built.append(session)
        return session

    app = TuiMtlApp(preset, path, session_factory=session_factory or factory, device_probe=fake_device,
                    make_run_dir=record, recorder_factory=quiet_recorder)
    app.sessions = built
    return app


async def wait_until(predicate, timeout: float = 60.0, what: "str | Callable[[], str]" = "condition") -> None:
    """Poll without Pilot's idle wait (which stalls while a training thread is busy); `what` (or what it
    returns when called at the timeout) names the condition in the failure."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            said = what() if callable(what) else what
            dump_threads(f"timed out after {timeout}s waiting for {said}")
            raise AssertionError(f"timed out after {timeout}s waiting for {said}")
        await asyncio.sleep(0.01)


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
    """Wait until `pump` has handled every message queued before this call (FIFO queues). A guard
    against a hang, not a timing test: while the training thread traces a new step variant on a
    loaded 2-core CI box, the UI thread gets the GIL slowly (a key once took over 5 s there)."""
    done = asyncio.Event()
    pump.call_later(done.set)
    await asyncio.wait_for(done.wait(), timeout=30)


async def started(app, reports: int = 2):
    """The dashboard, once its session serves and `reports` reports arrived."""
    dash = app.dashboard
    # a guard against a hang, not a timing test: the first build and trace of a process can take tens
    # of seconds on a loaded 2-core CI box (CI once took over 20 s here)
    await wait_until(lambda: dash.session is not None and dash.reports_seen >= reports, timeout=90,
                     what="first reports")
    return dash


def footer_labels(app) -> list[str]:
    from textual.widgets._footer import FooterKey

    return [key.description for key in app.screen.query(FooterKey)]
