"""Every key flow of the dashboard, with a fake (TF-free) session trained in the real worker thread.

Keys are sent with `press` (no idle wait) and each test waits for the effect it asserts.
"""

from __future__ import annotations

import asyncio
import threading

import pytest

from tui_mtl.presets import read_preset, user_presets_dir
from tui_mtl.strategies.catalog import STRATEGY_NAMES
from tui_mtl.ui.screens.dialogs import ConfirmScreen, EditHeadScreen, SavePresetScreen
from tui_mtl.ui.screens.help import HelpScreen
from tui_mtl.ui.screens.too_small import TooSmallScreen
from tui_mtl.ui.widgets.loss_plot import LossPlot
from tui_mtl.ui.widgets.status import StrategyBar

from .conftest import make_app, press, wait_until

SIZE = (120, 40)


def bar_text(app) -> str:
    return str(app.screen.query_one(StrategyBar).render())


async def started(app):
    dash = app.dashboard
    await wait_until(lambda: dash.session is not None and dash.reports_seen >= 2, what="first reports")
    return dash


async def test_dashboard_trains_and_shows_losses():
    app = make_app()
    async with app.run_test(size=SIZE):
        dash = await started(app)
        assert dash.state == "running"
        rows = dash.head_rows()
        assert [r.head for r in rows] == ["shape", "size", "x", "trunk"]
        first = {r.head: r.train for r in rows}
        assert all(first[h] is not None for h in ("shape", "size", "x"))
        step = dash.last_report.step
        await wait_until(lambda: dash.last_report.step > step + 40, what="more steps")
        dash.replot()
        await asyncio.sleep(0.05)
        later = {r.head: r.train for r in dash.head_rows()}
        assert later["shape"] != first["shape"]
        plot = app.screen.query_one("#plot-shape", LossPlot)
        plot.render()
        assert plot.last_data is not None and len(plot.last_data.train[0]) > 3
        # the plot's cost follows its width: never more than ~2 points per column
        assert len(plot.last_data.train[0]) <= 2 * plot.size.width + 2
        assert "CPU (fake session)" in str(app.screen.query_one("#device").render())


async def test_space_pauses_and_resumes():
    app = make_app()
    async with app.run_test(size=SIZE):
        dash = await started(app)
        await press(app, "space")
        await wait_until(lambda: dash.state == "paused" and dash.session.paused, what="paused")
        step = dash.session.step_count
        await asyncio.sleep(0.15)
        assert dash.session.step_count == step  # really stopped stepping
        await press(app, "space")
        await wait_until(lambda: dash.state == "running" and dash.session.step_count > step, what="resumed")


async def test_strategy_keys_cycle_pick_and_go_back():
    app = make_app()
    async with app.run_test(size=SIZE):
        dash = await started(app)
        assert dash.session.strategy == "summed"
        await press(app, "s")
        assert STRATEGY_NAMES[1] in bar_text(app)  # shown at once (pending) …
        await wait_until(lambda: dash.session.strategy == STRATEGY_NAMES[1], what="strategy applied")
        await wait_until(lambda: any(e.kind == "strategy" for e in dash.session.history.markers()), what="marker")
        await press(app, "3")
        await wait_until(lambda: dash.session.strategy == STRATEGY_NAMES[2], what="direct key")
        await press(app, "S")
        await wait_until(lambda: dash.session.strategy == STRATEGY_NAMES[1], what="previous")
        await wait_until(lambda: dash.pending_strategy is None, what="pending cleared")
        assert f" {STRATEGY_NAMES[1]} " in bar_text(app)


async def test_rate_keys_act_on_the_selected_head():
    app = make_app()
    async with app.run_test(size=SIZE):
        dash = await started(app)
        await press(app, "right_square_bracket")
        await wait_until(lambda: dash.session.learning_rates["shape"] == pytest.approx(2e-3), what="shape lr x2")
        await press(app, "down", "left_square_bracket")
        await wait_until(lambda: dash.session.learning_rates["size"] == pytest.approx(5e-4), what="size lr /2")
        assert dash.session.learning_rates["shape"] == pytest.approx(2e-3)
        await press(app, "down", "down", "right_square_bracket")  # the trunk row
        await wait_until(lambda: dash.session.learning_rates["trunk"] == pytest.approx(2e-3), what="trunk lr")
        await wait_until(lambda: not dash.has_pending, what="settled")
        row = {r.head: r for r in dash.head_rows()}
        assert row["size"].cells()[3] == "5e-04"
        assert any(e.kind == "lr" for e in dash.session.history.markers())


async def test_edit_modal_validates_inline_and_applies():
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        dash = await started(app)
        await press(app, "e")
        await wait_until(lambda: isinstance(app.screen, EditHeadScreen), what="edit dialog")
        dialog = app.screen
        lr = dialog.query_one("#learning_rate")
        lr.value = "abc"
        await pilot.pause()
        assert "not a number" in str(dialog.query_one("#learning_rate-error").render())
        await press(app, "enter")
        await asyncio.sleep(0.05)
        assert app.screen is dialog  # refused: stays open, nothing sent
        assert dash.session.learning_rates["shape"] == pytest.approx(1e-3)
        lr.value = "0.004"
        dialog.query_one("#weight").value = "-1"
        await pilot.pause()
        assert ">= 0" in str(dialog.query_one("#weight-error").render())
        dialog.query_one("#weight").value = "2.5"
        dialog.query_one("#loss_scale").value = "1000"
        await press(app, "enter")
        await wait_until(lambda: app.screen is dash, what="dialog closed")
        await wait_until(lambda: dash.session.learning_rates["shape"] == pytest.approx(0.004)
                         and dash.session.weights["shape"] == 2.5 and dash.session.loss_scales["shape"] == 1000,
                         what="edits applied")
        # Esc cancels without a change
        await press(app, "e")
        await wait_until(lambda: isinstance(app.screen, EditHeadScreen), what="edit dialog again")
        app.screen.query_one("#learning_rate").value = "0.5"
        await press(app, "escape")
        await wait_until(lambda: app.screen is dash, what="cancelled")
        assert dash.session.learning_rates["shape"] == pytest.approx(0.004)


async def test_save_writes_a_valid_preset_and_asks_before_overwriting():
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        dash = await started(app)
        await press(app, "s", "right_square_bracket")
        await press(app, "ctrl+s")
        await wait_until(lambda: isinstance(app.screen, SavePresetScreen), what="save dialog")
        name_input = app.screen.query_one("#name")
        assert name_input.value.startswith("quickstart-")
        name_input.value = "bad name!"
        await pilot.pause()
        await press(app, "enter")
        await asyncio.sleep(0.05)
        assert isinstance(app.screen, SavePresetScreen)  # invalid name refused inline
        name_input.value = "my-run"
        await press(app, "enter")
        path = user_presets_dir() / "my-run.toml"
        await wait_until(path.exists, what="preset written")
        saved = read_preset(path)
        assert saved.strategy.name == STRATEGY_NAMES[1]
        assert saved.model.head("shape").learning_rate == pytest.approx(2e-3)
        assert saved.name == "my-run"
        before = path.read_text()

        # Same name again: asks; "n" keeps the file.
        await press(app, "space")  # pause, then change the rate so the file would differ
        await press(app, "right_square_bracket")
        await wait_until(lambda: dash.session.learning_rates["shape"] == pytest.approx(4e-3), what="lr x2 again")
        await press(app, "ctrl+s")
        await wait_until(lambda: isinstance(app.screen, SavePresetScreen), what="save dialog 2")
        app.screen.query_one("#name").value = "my-run"
        await pilot.pause()
        assert "exists" in str(app.screen.query_one("#name-error").render())
        await press(app, "enter")
        await wait_until(lambda: isinstance(app.screen, ConfirmScreen), what="overwrite question")
        await press(app, "n")
        await wait_until(lambda: app.screen is dash, what="back")
        assert path.read_text() == before

        await press(app, "ctrl+s")
        await wait_until(lambda: isinstance(app.screen, SavePresetScreen), what="save dialog 3")
        app.screen.query_one("#name").value = "my-run"
        await press(app, "enter")
        await wait_until(lambda: isinstance(app.screen, ConfirmScreen), what="overwrite question 2")
        await press(app, "y")
        await wait_until(lambda: read_preset(path).model.head("shape").learning_rate == pytest.approx(4e-3),
                         what="replaced")
        assert not list(path.parent.glob(".*.tmp"))  # atomic: no temp file left


async def test_save_waits_for_a_change_not_yet_in_force():
    app = make_app(step_delay=0.05)  # slow steps: a command waits up to 50 ms for the boundary
    async with app.run_test(size=SIZE):
        dash = await started(app)
        await press(app, "ctrl+s")
        await wait_until(lambda: isinstance(app.screen, SavePresetScreen), what="save dialog")
        app.screen.query_one("#name").value = "racy"
        dash.session.set_lr("x", 0.02)  # as if a key was pressed just before saving
        dash.pending_lr["x"] = 0.02
        await press(app, "enter")
        path = user_presets_dir() / "racy.toml"
        await wait_until(path.exists, what="written")
        assert read_preset(path).model.head("x").learning_rate == pytest.approx(0.02)


async def test_restart_asks_then_resets():
    app = make_app()
    async with app.run_test(size=SIZE):
        dash = await started(app)
        await wait_until(lambda: dash.session.step_count > 60, what="some steps")
        await press(app, "r")
        await wait_until(lambda: isinstance(app.screen, ConfirmScreen), what="confirm")
        await press(app, "n")
        await wait_until(lambda: app.screen is dash, what="declined")
        assert "reset" not in dash.session.commands_applied
        await press(app, "r")
        await wait_until(lambda: isinstance(app.screen, ConfirmScreen), what="confirm 2")
        await press(app, "y")
        await wait_until(lambda: "reset" in dash.session.commands_applied, what="reset applied")
        await wait_until(lambda: dash.last_report is not None and dash.last_report.step < 60, what="steps restart")
        assert any(e.kind == "reset" for e in dash.session.history.markers())


async def test_log_toggle_help_and_palette():
    app = make_app()
    async with app.run_test(size=SIZE):
        dash = await started(app)
        await wait_until(lambda: dash.session.step_count > 40, what="data")
        await press(app, "l")
        plot = app.screen.query_one("#plot-size", LossPlot)
        assert plot.log_scale and "log10" in plot.border_title
        dash.replot()
        plot.render()
        assert plot.last_data.log and plot.last_data.yticks
        await press(app, "l")
        assert not plot.log_scale
        await press(app, "question_mark")
        await wait_until(lambda: isinstance(app.screen, HelpScreen), what="help")
        await press(app, "escape")
        await wait_until(lambda: app.screen is dash, what="help closed")
        titles = {c.title: c for c in app.get_system_commands(dash)}
        assert {"Switch to the next strategy", "Double the selected head's learning rate",
                f"Strategy: {STRATEGY_NAMES[1]}", "Quit"} <= set(titles)
        titles[f"Strategy: {STRATEGY_NAMES[1]}"].callback()
        await wait_until(lambda: dash.session.strategy == STRATEGY_NAMES[1], what="palette command")


async def test_quit_stops_the_worker_promptly():
    app = make_app()
    async with app.run_test(size=SIZE):
        dash = await started(app)
        session = dash.session
        await press(app, "q")
        await wait_until(lambda: not app.is_running, timeout=5, what="exit")
    assert session._stop.is_set()
    await wait_until(lambda: not session._running, timeout=5, what="run() returned")


async def test_quit_while_paused():
    app = make_app()
    async with app.run_test(size=SIZE):
        dash = await started(app)
        session = dash.session
        await press(app, "space")
        await wait_until(lambda: session.paused, what="paused")
        await press(app, "q")
    await wait_until(lambda: not session._running, timeout=5, what="run() returned while paused")


async def test_worker_exception_shows_error_and_app_stays_usable():
    app = make_app(fail_at=30)
    async with app.run_test(size=SIZE):
        dash = app.dashboard
        await wait_until(lambda: dash.state == "error", what="error state")
        assert "boom at step 30" in dash.error
        assert "boom" in str(app.screen.query_one("#error").render())
        await press(app, "l")  # still responds
        assert app.screen.query_one(LossPlot).log_scale
        await press(app, "ctrl+s")  # and saving still works
        await wait_until(lambda: isinstance(app.screen, SavePresetScreen), what="save dialog")
        app.screen.query_one("#name").value = "after-error"
        await press(app, "enter")
        await wait_until((user_presets_dir() / "after-error.toml").exists, what="saved after error")


async def test_non_finite_loss_pauses_with_error():
    app = make_app(nan_at=45)
    async with app.run_test(size=SIZE):
        dash = app.dashboard
        await wait_until(lambda: dash.state == "error", what="error state")
        assert "Non-finite loss" in dash.error
        await wait_until(lambda: dash.session.paused, what="paused by the UI")


async def test_engine_fault_pause_shows_error_and_resumes():
    app = make_app(fault_at=40)
    async with app.run_test(size=SIZE):
        dash = app.dashboard
        await wait_until(lambda: dash.state == "error", what="error state")
        assert "non-finite value in head 'shape'" in dash.error
        assert "ERROR" in str(app.screen.query_one("#state").render())
        assert dash.session.paused
        step = dash.session.step_count
        await press(app, "space")  # resume clears the error
        await wait_until(lambda: dash.session.step_count > step and dash.state == "running", what="resumed")
        assert dash.error is None
        assert any(e.kind == "nonfinite" for e in dash.session.history.markers())


async def test_finished_run_can_continue():
    app = make_app(step_delay=0)
    async with app.run_test(size=SIZE):
        dash = app.dashboard
        await wait_until(lambda: dash.state == "finished", timeout=10, what="finished")
        assert dash.session.step_count == 2000
        await press(app, "space")
        await wait_until(lambda: dash.session.runs == 2, what="second run")
        await wait_until(lambda: dash.session.step_count == 4000 and dash.state == "finished", timeout=10,
                         what="second run finished")


async def test_loading_state_then_keys_work():
    release = threading.Event()
    from tui_mtl.ui.app import TuiMtlApp

    from .fakes import FakeSession, fake_device
    from tui_mtl.presets import load_preset

    def slow_factory(preset, _base):
        release.wait(5)
        return FakeSession(preset)

    app = TuiMtlApp(load_preset("quickstart"), None, session_factory=slow_factory, device_probe=fake_device,
                    make_run_dir=False)
    async with app.run_test(size=SIZE):
        dash = app.dashboard
        await asyncio.sleep(0.1)
        assert dash.state == "loading"
        assert "LOADING" in str(app.screen.query_one("#state").render())
        await press(app, "s")  # refused politely while loading
        await asyncio.sleep(0.05)
        assert dash.pending_strategy is None
        release.set()
        await wait_until(lambda: dash.state == "running", what="running after load")


async def test_session_that_cannot_start_shows_error():
    from tui_mtl.presets import load_preset
    from tui_mtl.ui.app import TuiMtlApp

    def broken(_preset, _base):
        raise OSError("no such dataset")

    app = TuiMtlApp(load_preset("quickstart"), None, session_factory=broken, device_probe=None,
                    make_run_dir=False)
    async with app.run_test(size=SIZE):
        dash = app.dashboard
        await wait_until(lambda: dash.state == "error", what="error")
        assert "no such dataset" in dash.error
        await press(app, "q")


async def test_too_small_message_replaces_layout():
    app = make_app()
    async with app.run_test(size=(70, 20)) as pilot:
        await wait_until(lambda: isinstance(app.screen, TooSmallScreen), what="too small screen")
        text = str(app.screen.query_one("#too-small").render())
        assert "terminal too small (need 80×24" in text and "70×20" in text
        await pilot.resize_terminal(100, 30)
        await wait_until(lambda: not isinstance(app.screen, TooSmallScreen), what="layout back")
        assert app.screen is app.dashboard
        await pilot.resize_terminal(79, 30)
        await wait_until(lambda: isinstance(app.screen, TooSmallScreen), what="too small again")


async def test_usable_at_80x24():
    app = make_app()
    async with app.run_test(size=(80, 24)):
        dash = await started(app)
        assert app.screen is dash
        plots = dash.head_plots()
        assert len(plots) == 3 and all(p.size.height >= 6 and p.size.width >= 20 for p in plots)
        table = app.screen.query_one("#heads")
        assert table.size.height >= 5  # header + 3 heads + trunk


async def test_diagnostics_panel_and_effective_weights():
    from tui_mtl.ui.widgets.diagnostics import DiagnosticsPanel

    app = make_app()
    async with app.run_test(size=SIZE):
        dash = await started(app)
        await wait_until(lambda: dash.last_diagnostics is not None, what="a diagnostics report")
        panel = app.screen.query_one(DiagnosticsPanel)
        assert not panel.display and app.screen.query_one("#plots").display
        await press(app, "d")
        assert panel.display and not app.screen.query_one("#plots").display
        dash._refresh_text()
        latest = panel.latest_text
        assert "grad norm" in latest and "update share" in latest and "shape~size" in latest
        assert "conflicting pairs" in latest
        await wait_until(lambda: len(dash.session.history.diagnostic_points("grad_norm/shape")[0]) >= 2,
                         what="diagnostics history")
        dash.replot()
        norm = panel.query_one("#diag-norm")
        norm.render()
        assert set(norm.last_data.series) == {"grad_norm/shape", "grad_norm/size", "grad_norm/x"}
        assert len(norm.last_data.series["grad_norm/shape"][0]) >= 2
        assert "shape" in norm.border_subtitle  # the legend names the heads
        cosine = panel.query_one("#diag-cosine")
        cosine.render()
        assert "conflict_share" in cosine.last_data.series
        # fixed weights: the table shows the preset's weight; an adaptive weighting: the weight in force, starred
        assert dash.head_rows()[0].cells()[2] == "1"
        await press(app, "6")  # summed … cagrad are 1-6; 7 = summed+uncertainty
        await press(app, "7")
        await wait_until(lambda: dash.session.strategy == STRATEGY_NAMES[6], what="adaptive weighting")
        await wait_until(lambda: dash.last_report.strategy == STRATEGY_NAMES[6], what="report under it")
        cell = dash.head_rows()[0].cells()[2]
        assert cell.endswith("*") and float(cell[:-1]) == pytest.approx(
            dash.last_report.effective_weights["shape"], abs=0.01)
        await press(app, "d")
        assert not panel.display and app.screen.query_one("#plots").display
