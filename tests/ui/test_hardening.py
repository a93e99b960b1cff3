"""Hardening on the real engine: tiny terminals and back, hundreds of fast key repeats, every modal
field refusing bad numbers inline, a quit while the session builds, and the heap frozen per trace."""

from __future__ import annotations

import asyncio
import math
import threading

import pytest

from tui_mtl.engine import State
from tui_mtl.ui.screens.dialogs import EditHeadScreen
from tui_mtl.ui.screens.fork_dialog import ForkScreen
from tui_mtl.ui.screens.too_small import TooSmallScreen
from tui_mtl.ui.widgets.head_table import HeadTable

from .conftest import make_app, press, started, ui_preset, wait_until

SIZE = (120, 40)
TINY = [(1, 1), (10, 5), (79, 23), (80, 24), (20, 60), (200, 3), (40, 12), (120, 40)]


def long_preset():
    return ui_preset(training={"steps": 100000})


async def test_resizing_to_tiny_sizes_and_back_never_breaks_the_dashboard():
    app = make_app(long_preset())
    async with app.run_test(size=SIZE) as pilot:
        dash = await started(app)
        for round_ in range(3):
            if round_ == 1:
                await press(app, "d")  # the diagnostics panel through the same resizes
            if round_ == 2:
                await press(app, "d", "f")  # and a comparison's table and overlay
                await wait_until(lambda: isinstance(app.screen, ForkScreen), what="fork dialog")
                app.screen.query_one("#strategies").highlighted = 1
                await press(app, "space", "ctrl+f")
                await wait_until(lambda: dash.comparison is not None, what="fork")
            for size in TINY:
                await pilot.resize_terminal(*size)
                await asyncio.sleep(0.01)
                small = size[0] < 80 or size[1] < 24
                await wait_until(lambda small=small: isinstance(app.screen, TooSmallScreen) == small,
                                 what=f"screen at {size}")
        await wait_until(lambda: app.screen is dash, what="dashboard back")
        step = dash.comparison.step_count
        await wait_until(lambda: dash.comparison.step_count > step + 10, what="still training")
        dash.replot()
        dash.refresh_text()
        await pilot.pause()
        for plot in dash.head_plots():
            plot.render()
            assert plot.size.width >= 20 and plot.last_data is not None
        assert dash.model.state is State.RUNNING and dash.model.error_text() is None


async def test_300_fast_rate_presses_end_at_the_engines_rate():
    app = make_app(long_preset())
    async with app.run_test(size=SIZE):
        dash = await started(app)
        await press(app, "down")  # shape
        await press(app, *["right_square_bracket"] * 300)
        expected = 0.01 * 2.0**300
        # a guard against a hang: when a 20 s wait ran out on a loaded CI box, the training thread was
        # in the worker's collect-and-freeze after a trace (a test process's whole heap, GIL held)
        await wait_until(lambda: dash.session.learning_rates["shape"] == pytest.approx(expected),
                         what=lambda: f"every change applied (shape at {dash.session.learning_rates['shape']:.3g})")
        await wait_until(lambda: not dash.model.pending, what="settled")
        engine = dash.session.learning_rates["shape"]
        assert math.isfinite(engine)
        dash.refresh_text()
        shown = app.screen.query_one(HeadTable)._cells[1][3]
        assert float(shown.rstrip("…")) == pytest.approx(engine, rel=1e-2)  # the table shows the engine's rate
        await wait_until(lambda: dash.model.state is State.FAULTED, what="a rate of 1e88 diverges", timeout=30)


async def test_edit_fields_reject_bad_numbers_inline():
    app = make_app(ui_preset(training={"steps": 20}))  # finished, so Pilot's idle waits are short
    async with app.run_test(size=SIZE) as pilot:
        dash = await started(app)
        await wait_until(lambda: dash.model.state is State.FINISHED, what="finished")
        await press(app, "e")
        await wait_until(lambda: isinstance(app.screen, EditHeadScreen), what="edit dialog")
        dialog = app.screen
        before = (dict(dash.session.learning_rates), dict(dash.session.weights), dict(dash.session.loss_scales))
        for field in ("learning_rate", "weight", "loss_scale"):
            await check_field(app, pilot, dialog, field)
        await asyncio.sleep(0.05)
        assert (dash.session.learning_rates, dash.session.weights, dash.session.loss_scales) == before
        await press(app, "escape")


async def test_a_long_inline_error_wraps_inside_the_dialog_at_80x24():
    app = make_app(ui_preset(training={"steps": 20}))
    async with app.run_test(size=(80, 24)) as pilot:
        dash = await started(app)
        await wait_until(lambda: dash.model.state is State.FINISHED, what="finished")
        await press(app, "e")
        await wait_until(lambda: isinstance(app.screen, EditHeadScreen), what="edit dialog")
        dialog = app.screen
        typed = "a-rate-nobody-could-mean-" * 2
        dialog.query_one("#learning_rate").value = typed
        await pilot.pause()
        error = dialog.query_one("#learning_rate-error")
        box = dialog.query_one(".dialog").content_region
        assert typed in str(error.render())  # the whole message...
        assert error.region.right <= box.right and error.region.height > 1  # ...wrapped, inside the frame
        await press(app, "escape")


async def check_field(app, pilot, dialog, field: str) -> None:
    negative = ">= 0" if field == "weight" else "> 0"
    cases = [("abc", "must be"), ("-1", negative), ("nan", negative), ("inf", negative),
             ("-inf", negative), ("", "enter a finite number"), ("   ", "enter a finite number"), ("1e999", negative)]
    if field != "weight":
        cases.append(("0", "> 0"))
    for text, expected in cases:
        dialog.query_one(f"#{field}").value = text
        await pilot.pause()
        assert expected in str(dialog.query_one(f"#{field}-error").render()), text
        assert dialog.query_one(f"#{field}").has_class("-invalid")
        dialog._apply()
        await asyncio.sleep(0.01)
        assert app.screen is dialog, text  # refused: the dialog stays, nothing is sent
    dialog.query_one(f"#{field}").value = "1"
    await pilot.pause()


def test_quitting_while_the_session_is_still_being_built_does_not_wait_for_it():
    """Building the first Session imports TensorFlow (seconds, uninterruptible): a quit meanwhile
    must end `App.run()` at once, and the session built afterwards is closed, never trained or saved."""
    from tui_mtl.engine import Session

    from .conftest import fake_device, quiet_recorder
    from .fakes import FakeStepper

    building, release, built, recorders = threading.Event(), threading.Event(), [], []

    def slow_factory(preset, _base_dir):
        building.set()
        release.wait(10)  # without the fix, App.run() returns only after this
        built.append(Session(preset, stepper=FakeStepper(preset)))
        return built[-1]

    def counting_recorder(run_dir, session):
        recorders.append(session)
        return quiet_recorder(run_dir, session)

    async def quit_while_building(pilot):
        await wait_until(lambda: building.is_set(), what="the session build to start")
        await pilot.press("q")

    from tui_mtl.ui.app import TuiMtlApp

    app = TuiMtlApp(ui_preset(), None, session_factory=slow_factory, device_probe=fake_device,
                    recorder_factory=counting_recorder)
    try:
        app.run(headless=True, size=SIZE, auto_pilot=quit_while_building)
        assert not built  # App.run() returned while the factory was still blocked
        assert app.dashboard is None or app.dashboard.wait_finished(timeout=0)  # nothing started, nothing to save
    finally:
        release.set()
    worker = app.dashboard.worker if app.dashboard is not None else None
    if worker is not None:
        worker._done.wait(10)
    assert built and built[0].closed and built[0].step_count == 0  # closed, never trained
    assert not recorders  # and no run folder was opened for it


async def test_the_heap_is_collected_and_frozen_once_per_new_trace(monkeypatch):
    """Full collections walked TensorFlow's million objects (200-250 ms pauses); after each new trace
    the worker collects once and freezes what is left, and only then (the model, once built, is
    frozen without a collection)."""
    import types

    from tui_mtl.ui import worker as worker_module

    calls = []
    fake_gc = types.SimpleNamespace(**{name: (lambda name=name: calls.append(name))
                                       for name in ("unfreeze", "collect", "freeze")})
    monkeypatch.setattr(worker_module, "gc", fake_gc)
    # no diagnostic steps: their own trace would (rightly) collect again while the test counts
    app = make_app(ui_preset(training={"steps": 100000, "diagnostics_every": 0}))
    async with app.run_test(size=SIZE):
        dash = await started(app, reports=5)
        first = len(calls)
        assert calls[:1] == ["freeze"]  # the built session
        assert first >= 4 and calls[1:4] == ["unfreeze", "collect", "freeze"]  # after the first trace
        seen = dash.reports_seen
        await wait_until(lambda: dash.reports_seen >= seen + 5, what="more reports")
        assert len(calls) == first  # not on every report
        await press(app, "s")  # a new strategy: a new trace
        await wait_until(lambda: len(calls) > first, what="the next freeze")
        assert calls[-3:] == ["unfreeze", "collect", "freeze"]
