"""The dashboard on the real engine Session (TensorFlow, quickstart): keys reach the engine."""

from __future__ import annotations

import sys

import pytest

from tui_mtl.presets import find_preset_path, read_preset, user_presets_dir
from tui_mtl.strategies.catalog import STRATEGY_NAMES
from tui_mtl.ui.screens.dialogs import SavePresetScreen

from .conftest import press, wait_until

pytestmark = pytest.mark.slow


def test_ui_modules_do_not_import_tensorflow():
    import subprocess

    code = ("import sys; import tui_mtl.ui.app; "
            "bad = [m for m in sys.modules if m.startswith(('tensorflow', 'keras', 'tui_mtl.engine'))]; "
            "print(bad); sys.exit(1 if bad else 0)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


async def test_real_session_trains_and_obeys_keys(tmp_path):
    from tui_mtl.ui.app import TuiMtlApp

    path = find_preset_path("quickstart")
    app = TuiMtlApp(read_preset(path), path, runs_root=tmp_path / "runs")
    async with app.run_test(size=(120, 40)):
        dash = app.dashboard
        await wait_until(lambda: dash.session is not None, timeout=90, what="TensorFlow and the model")
        await wait_until(lambda: dash.last_report is not None and dash.last_report.step > 20, timeout=60,
                         what="training steps")
        assert "TF " in dash.device
        session = dash.session
        assert session.history.best_train  # the engine's history feeds the table
        await press(app, "s")
        await wait_until(lambda: session.strategy == STRATEGY_NAMES[1], timeout=30, what="strategy switched")
        await press(app, "right_square_bracket")
        await wait_until(lambda: session.learning_rates["shape"] == pytest.approx(2e-3), timeout=30, what="lr")
        step = session.step_count
        await wait_until(lambda: session.step_count > step + 5, timeout=30, what="training continues")
        await press(app, "ctrl+s")
        await wait_until(lambda: isinstance(app.screen, SavePresetScreen), what="save dialog")
        app.screen.query_one("#name").value = "from-real"
        await press(app, "enter")
        saved = user_presets_dir() / "from-real.toml"
        await wait_until(saved.exists, what="saved")
        preset = read_preset(saved)
        assert preset.strategy.name == STRATEGY_NAMES[1]
        assert preset.model.head("shape").learning_rate == pytest.approx(2e-3)
        await press(app, "q")
    await wait_until(lambda: not session._running, timeout=10, what="run() returned at a step boundary")
    run_dirs = list((tmp_path / "runs").iterdir())
    assert len(run_dirs) == 1
    assert dash.wait_finished(10)
    from tui_mtl.engine.checkpoint import read_meta

    run = run_dirs[0]
    assert read_meta(run / "checkpoint.npz")["step"] == session.step_count  # the final checkpoint
    assert (run / "metrics.csv").stat().st_size > 0 and list((run / "train").iterdir())  # TensorBoard


async def test_real_nan_pauses_with_the_engines_message(tmp_path):
    """A huge learning rate makes the loss non-finite: the dashboard shows the error, training pauses."""
    from tui_mtl.presets import load_preset
    from tui_mtl.ui.app import TuiMtlApp

    preset = load_preset("quickstart").with_changes(
        training={"trunk_learning_rate": 1e12}, model={"heads": [
            {**h, "learning_rate": 1e12} for h in load_preset("quickstart").model.model_dump(mode="json")["heads"]]})
    app = TuiMtlApp(preset, None, runs_root=tmp_path / "runs")
    async with app.run_test(size=(120, 40)):
        dash = app.dashboard
        await wait_until(lambda: dash.state == "error", timeout=120, what="the error state")
        assert "non-finite" in dash.error.lower()
        await wait_until(lambda: dash.session.paused, timeout=10, what="paused")
        await press(app, "q")


async def test_real_fork_overlay_and_drop(tmp_path):
    """Fork the real engine Session from the dashboard: two branches train in lockstep, each head's plot
    overlays both, dropping one removes it, and each branch gets its own run folder."""
    from tui_mtl.ui.app import TuiMtlApp

    path = find_preset_path("quickstart")
    app = TuiMtlApp(read_preset(path), path, runs_root=tmp_path / "runs")
    async with app.run_test(size=(120, 40)):
        dash = app.dashboard
        await wait_until(lambda: dash.last_report is not None and dash.last_report.step > 10, timeout=90,
                         what="training")
        parent = dash.session
        dash.request_fork(["summed", "grouped"])
        await wait_until(lambda: dash.comparison is not None, timeout=60, what="the fork")
        assert not parent._running and dash.fork_step == parent.step_count
        await wait_until(lambda: dash.comparison.step_count > dash.fork_step + 10, timeout=60,
                         what="the branches train")
        dash.replot()
        plot = app.screen.query_one("#plot-shape")
        plot.render()
        assert {"summed", "grouped"} <= set(plot.last_data.series)
        await press(app, "b", "right_square_bracket")
        grouped = dash.comparison.branches["grouped"]
        await wait_until(lambda: grouped.learning_rates["shape"] == pytest.approx(2e-3), timeout=30,
                         what="the grouped branch's rate")
        assert dash.comparison.branches["summed"].learning_rates["shape"] == pytest.approx(1e-3)
        await press(app, "x")
        await wait_until(lambda: list(dash.comparison.branches) == ["summed"], timeout=30, what="dropped")
        step = dash.comparison.step_count
        await wait_until(lambda: dash.comparison.step_count > step + 5, timeout=30, what="training goes on")
        dash.replot()
        plot.render()
        assert "grouped" not in plot.last_data.series
        await press(app, "q")
    assert dash.wait_finished(20)
    assert (dash.run_dir / "branches" / "summed" / "checkpoint.npz").is_file()
