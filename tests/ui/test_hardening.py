"""Hardening (issue 7, the UI part): tiny terminals and back, hundreds of fast key repeats, and every
modal field refusing bad numbers inline."""

from __future__ import annotations

import asyncio
import math

import pytest

from tui_mtl.ui.screens.dialogs import EditHeadScreen
from tui_mtl.ui.screens.too_small import TooSmallScreen
from tui_mtl.ui.widgets.head_table import HeadTable

from .conftest import make_app, press, wait_until

SIZE = (120, 40)
TINY = [(1, 1), (10, 5), (79, 23), (80, 24), (20, 60), (200, 3), (40, 12), (120, 40)]


async def test_resizing_to_tiny_sizes_and_back_never_breaks_the_dashboard():
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        dash = app.dashboard
        await wait_until(lambda: dash.session is not None and dash.reports_seen >= 2, what="training")
        for round_ in range(3):
            if round_ == 1:
                await press(app, "d")  # the diagnostics panel through the same resizes
            if round_ == 2:
                await press(app, "d")
                dash.request_fork(["summed", "grouped"])  # and a comparison's table and overlay
                await wait_until(lambda: dash.comparison is not None, what="fork")
            for size in TINY:
                await pilot.resize_terminal(*size)
                await asyncio.sleep(0.01)
                small = size[0] < 80 or size[1] < 24
                await wait_until(lambda: isinstance(app.screen, TooSmallScreen) == small, what=f"screen at {size}")
        await wait_until(lambda: app.screen is dash, what="dashboard back")
        step = dash.comparison.step_count
        await wait_until(lambda: dash.comparison.step_count > step + 10, what="still training")
        dash.replot()
        dash._refresh_text()
        await pilot.pause()
        for plot in dash.head_plots():
            plot.render()
            assert plot.size.width >= 20 and plot.last_data is not None
        assert dash.state == "running" and dash.error is None
        await press(app, "q")


async def test_300_fast_rate_presses_end_at_the_engines_rate():
    app = make_app()
    async with app.run_test(size=SIZE):
        dash = app.dashboard
        await wait_until(lambda: dash.session is not None and dash.reports_seen >= 2, what="training")
        await press(app, *["right_square_bracket"] * 300)
        expected = 1e-3 * 2.0**300
        await wait_until(lambda: not dash.has_pending, timeout=10, what="every change applied")
        engine = dash.session.learning_rates["shape"]
        assert math.isfinite(engine) and engine == pytest.approx(expected)
        row = next(r for r in dash.head_rows() if r.head == "shape")
        assert row.lr == engine and not row.pending
        dash._refresh_text()
        shown = app.screen.query_one(HeadTable)._cells[0][3]
        assert float(shown) == pytest.approx(engine, rel=1e-2)  # what the table shows is the engine's rate
        assert sum(e.kind == "lr" for e in dash.session.history.markers()) >= 1
        await press(app, "q")


async def test_edit_fields_reject_bad_numbers_inline():
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        dash = app.dashboard
        await wait_until(lambda: dash.session is not None, what="session")
        await press(app, "e")
        await wait_until(lambda: isinstance(app.screen, EditHeadScreen), what="edit dialog")
        dialog = app.screen
        before = (dict(dash.session.learning_rates), dict(dash.session.weights), dict(dash.session.loss_scales))
        for field in ("learning_rate", "weight", "loss_scale"):
            await check_field(app, pilot, dialog, field)
        assert (dash.session.learning_rates, dash.session.weights, dash.session.loss_scales) == before
        await press(app, "escape")


async def check_field(app, pilot, dialog, field: str) -> None:
    negative = ">= 0" if field == "weight" else "> 0"
    cases = [("abc", "not a number"), ("-1", negative), ("nan", "finite"), ("inf", "finite"),
             ("-inf", "finite"), ("", "enter a number"), ("   ", "enter a number"), ("1e999", "finite")]
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
    """Building the first Session imports TensorFlow (seconds, and an import cannot be interrupted):
    a quit meanwhile must end `App.run()` at once (asyncio's shutdown joins executor threads, so the
    training thread must not be one), and no session is trained or saved afterwards."""
    import threading

    from tui_mtl.presets import find_preset_path, read_preset
    from tui_mtl.ui.app import TuiMtlApp

    from .conftest import fake_recorder
    from .fakes import FakeSession, fake_device

    building, release, built = threading.Event(), threading.Event(), []

    def slow_factory(preset, _base_dir):
        building.set()
        release.wait(10)  # without the fix, App.run() returns only after this
        built.append(FakeSession(preset))
        return built[-1]

    async def quit_while_building(pilot):
        await wait_until(lambda: building.is_set(), what="the session build to start")
        await pilot.press("q")

    recorders = []

    def counting_recorder(run_dir, session):
        recorders.append(session)
        return fake_recorder(run_dir, session)

    path = find_preset_path("quickstart")
    app = TuiMtlApp(read_preset(path), path, session_factory=slow_factory, device_probe=fake_device,
                    recorder_factory=counting_recorder)
    try:
        app.run(headless=True, size=SIZE, auto_pilot=quit_while_building)
        assert not built  # App.run() returned while the factory was still blocked
        assert app.dashboard.wait_finished(timeout=0)  # nothing started, nothing to save
    finally:
        release.set()
    app.dashboard._worker_done.wait(10)
    session = built[0]
    assert session._closed and session.step_count == 0  # built after the quit: closed, never trained
    assert not recorders  # and no run folder was opened for it



async def test_the_heap_is_collected_and_frozen_once_per_new_trace(monkeypatch):
    """Full collections walked TensorFlow's million objects (200-250 ms pauses); after each new trace
    the dashboard collects once and freezes what is left, and only then."""
    import types

    from tui_mtl.ui.screens import dashboard as dashboard_module

    calls = []
    fake_gc = types.SimpleNamespace(**{name: (lambda name=name: calls.append(name))
                                       for name in ("unfreeze", "collect", "freeze")})
    monkeypatch.setattr(dashboard_module, "gc", fake_gc)
    app = make_app()
    async with app.run_test(size=SIZE):
        dash = app.dashboard
        await wait_until(lambda: dash.session is not None and dash.reports_seen >= 2, what="training")
        assert calls == []  # a fake session traces nothing
        dash.session.trace_counts = {"summed": 1}  # as the engine counts a new trace
        await wait_until(lambda: calls, what="the freeze")
        seen = dash.reports_seen
        await wait_until(lambda: dash.reports_seen >= seen + 3, what="more reports")
        assert calls == ["unfreeze", "collect", "freeze"]  # once, not on every report
        dash.session.trace_counts = {"summed": 1, "grouped": 1}
        await wait_until(lambda: len(calls) == 6, what="the second freeze")
        seen = dash.reports_seen
        await wait_until(lambda: dash.reports_seen >= seen + 3, what="more reports")
        assert calls == ["unfreeze", "collect", "freeze"] * 2
