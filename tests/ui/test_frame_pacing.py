"""Frames as soon as something changed, at most one per interval: the PacedTimer on a virtual clock
(exact times), and the app's screens drawn by it on the real engine."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import textual._time
from textual._context import active_app
from textual.timer import Timer

from tui_mtl.ui.frame_pacing import PacedTimer
from tui_mtl.ui.screens.dialogs import EditHeadScreen
from tui_mtl.ui.screens.help import HelpScreen

from .conftest import make_app, press, started, ui_preset, wait_until


class Target:
    """What a timer holds a weak reference to."""


async def ticks_of(timer_class: type[Timer], monkeypatch) -> list[float]:
    """Virtual times at which a paused-when-done timer of interval 0.1 ticks when resumed: after 5 s
    of quiet, at once after a tick, 30 ms after a tick, after 250 ms of quiet."""
    clock = [100.0]

    async def sleep(seconds: float) -> None:
        clock[0] += seconds
        await asyncio.sleep(0)

    monkeypatch.setattr(textual._time, "get_time", lambda: clock[0])
    monkeypatch.setattr(textual._time, "sleep", sleep)
    monkeypatch.setattr("textual.timer.sleep", sleep)
    def fail(error: Exception) -> None:
        raise error

    active_app.set(SimpleNamespace(_exit=False, features=frozenset(), _handle_exception=fail))  # read by _tick
    ticks: list[float] = []
    target = Target()

    def draw() -> None:  # like Screen._on_timer_update: draws, then pauses its timer
        ticks.append(round(clock[0], 6))
        timer.pause()

    async def resume_and_wait() -> None:
        count = len(ticks)
        timer.resume()
        for _ in range(100):
            if len(ticks) > count:
                return
            await asyncio.sleep(0)
        raise AssertionError("no tick after resume")

    timer = timer_class(target, 0.1, callback=draw, pause=True)
    timer._start()
    for _ in range(10):
        await asyncio.sleep(0)
    assert ticks == []  # paused: nothing to draw
    clock[0] += 5.0
    await resume_and_wait()
    await resume_and_wait()
    clock[0] += 0.03
    await resume_and_wait()
    clock[0] += 0.25
    await resume_and_wait()
    timer.stop()
    return ticks


async def test_a_change_is_drawn_at_once_after_quiet_and_at_most_once_per_interval(monkeypatch):
    assert await ticks_of(PacedTimer, monkeypatch) == [105.0, 105.1, 105.2, 105.45]


async def test_textuals_own_timer_keeps_a_change_after_quiet_waiting_for_its_grid(monkeypatch):
    """Why PacedTimer exists: the same resumes on Textual's Timer. After 5 s of quiet it waits a whole
    interval; after 250 ms of quiet (resumed at 105.58) it waits for its next slot. (If this starts
    failing, Textual changed its timer: PacedTimer may be unnecessary.)"""
    ticks = await ticks_of(Timer, monkeypatch)
    assert ticks[0] == 105.1
    assert ticks[3] > 105.58 + 0.05


async def test_the_dashboard_and_its_dialogs_are_drawn_by_a_paced_timer():
    app = make_app(ui_preset(training={"steps": 100000}))
    async with app.run_test(size=(120, 40)):
        dash = await started(app)
        assert isinstance(dash._update_timer, PacedTimer)
        for key, screen_type in (("e", EditHeadScreen), ("question_mark", HelpScreen)):
            await press(app, key)
            await wait_until(lambda kind=screen_type: isinstance(app.screen, kind), what=f"{key} opens its dialog")
            assert isinstance(app.screen._update_timer, PacedTimer)
            await press(app, "escape")
            await wait_until(lambda: app.screen is dash, what="back on the dashboard")
        step = dash.session.step_count
        await wait_until(lambda: dash.session.step_count > step + 20, what="training goes on")
