"""Snapshots (pytest-textual-snapshot) of the picker, the dashboard with deterministic fake data, the
help screen, the save dialog and the too-small message. Update with `pytest --snapshot-update`."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tui_mtl.presets import shipped_presets_dir
from tui_mtl.ui.screens.dialogs import SavePresetScreen
from tui_mtl.ui.screens.help import HelpScreen
from tui_mtl.ui.screens.too_small import TooSmallScreen

from .conftest import make_app, wait_until

SIZE = (120, 40)
FIXED_PRESETS = Path("/tmp/tui-mtl-snapshot-presets")  # a fixed path: it is shown on screen

EVENTS = {250: ("strategy", "grouped"), 420: ("lr", "shape lr=0.002")}


def dashboard_app():
    return make_app("quickstart", prefill=600, start_paused=True, events_at=EVENTS)


async def dashboard_ready(pilot):
    app = pilot.app
    dash = app.dashboard
    await wait_until(lambda: dash.session is not None and dash.state == "paused", what="paused dashboard")
    dash.replot()
    dash._refresh_text()
    await pilot.pause()


def test_dashboard_snapshot(snap_compare):
    assert snap_compare(dashboard_app(), terminal_size=SIZE, run_before=dashboard_ready)


def test_dashboard_snapshot_80x24(snap_compare):
    assert snap_compare(dashboard_app(), terminal_size=(80, 24), run_before=dashboard_ready)


def test_fork_overlay_snapshot(snap_compare):
    """Three branches forked at step 600, paused 300 steps later: the overlay, the side-by-side table."""

    async def run_before(pilot):
        await dashboard_ready(pilot)
        dash = pilot.app.dashboard
        dash.request_fork(["summed", "grouped", {"strategy": "summed", "lr": {"x": 4e-3}, "name": "fast-x"}])
        await wait_until(lambda: dash.comparison is not None and dash.comparison.paused
                         and dash.comparison.step_count == 900, what="paused comparison")
        await wait_until(lambda: all(r.state == "paused" for r in dash.branch_reports.values()), what="reports")
        dash.replot()
        dash._refresh_text()
        await pilot.pause()

    app = make_app("quickstart", prefill=600, start_paused=True, events_at=EVENTS, fork_pause_after=300)
    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_diagnostics_snapshot(snap_compare):
    async def run_before(pilot):
        await dashboard_ready(pilot)
        await pilot.press("d")
        dash = pilot.app.dashboard
        dash.replot()
        dash._refresh_text()
        await pilot.pause()

    assert snap_compare(dashboard_app(), terminal_size=SIZE, run_before=run_before)


def test_help_snapshot(snap_compare):
    async def run_before(pilot):
        await dashboard_ready(pilot)
        await pilot.press("question_mark")
        await wait_until(lambda: isinstance(pilot.app.screen, HelpScreen), what="help")
        await pilot.pause()

    assert snap_compare(dashboard_app(), terminal_size=SIZE, run_before=run_before)


def test_save_dialog_snapshot(snap_compare, monkeypatch):
    monkeypatch.setenv("TUI_MTL_PRESETS_DIR", str(FIXED_PRESETS))

    async def run_before(pilot):
        await dashboard_ready(pilot)
        await pilot.press("ctrl+s")
        await wait_until(lambda: isinstance(pilot.app.screen, SavePresetScreen), what="save dialog")
        await pilot.pause()

    assert snap_compare(dashboard_app(), terminal_size=SIZE, run_before=run_before)


def test_too_small_snapshot(snap_compare):
    async def run_before(pilot):
        await wait_until(lambda: isinstance(pilot.app.screen, TooSmallScreen), what="too small")
        await pilot.pause()

    assert snap_compare(dashboard_app(), terminal_size=(60, 20), run_before=run_before)


@pytest.fixture
def fixed_picker_presets(monkeypatch):
    shutil.rmtree(FIXED_PRESETS, ignore_errors=True)
    FIXED_PRESETS.mkdir(parents=True)
    shutil.copy(shipped_presets_dir() / "quickstart.toml", FIXED_PRESETS / "quickstart.toml")
    (FIXED_PRESETS / "broken.toml").write_text('name = "broken"\n[model]\ninput_shape = [16, 16, 1]\n')
    entries = [("shipped", FIXED_PRESETS / "quickstart.toml"), ("user", FIXED_PRESETS / "broken.toml")]
    monkeypatch.setattr("tui_mtl.ui.screens.picker.preset_files", lambda: entries)
    yield
    shutil.rmtree(FIXED_PRESETS, ignore_errors=True)


def test_picker_snapshot(snap_compare, fixed_picker_presets):
    assert snap_compare(make_app(None), terminal_size=SIZE)


def test_picker_broken_preset_snapshot(snap_compare, fixed_picker_presets):
    assert snap_compare(make_app(None), terminal_size=SIZE, press=["down"])
