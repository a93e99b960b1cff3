"""Snapshots (pytest-textual-snapshot) of the picker, the dashboard, the fork overlay, diagnostics,
help, the save and fork dialogs, a fault, and the too-small message. Pure rendering: the real Session
on the fake stepper, trained to a fixed history before the app shows it. Update with
`pytest --snapshot-update` (and look at the SVGs)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tui_mtl.engine import State
from tui_mtl.presets import PresetFile, load_preset, shipped_presets_dir
from tui_mtl.ui.screens.dialogs import SavePresetScreen
from tui_mtl.ui.screens.fork_dialog import ForkScreen
from tui_mtl.ui.screens.help import HelpScreen
from tui_mtl.ui.screens.too_small import TooSmallScreen

from .conftest import PICKER, footer_labels, make_app, wait_until

SIZE = (120, 40)
FIXED_PRESETS = Path("/tmp/tui-mtl-snapshot-presets")  # a fixed path: it is shown on screen


def history(session) -> None:
    """600 steps with two changes, then paused: the same screen every time."""
    session.run(250)
    session.set_strategy("grouped")
    session.run(170)
    session.set_lr("shape", 0.002)
    session.run(180)
    session.state = State.PAUSED


def quickstart(steps: int = 300):
    return load_preset("quickstart").with_changes(training={"steps": steps})


def dashboard_app(preset=None, prepare=history):
    return make_app(preset or quickstart(), engine="fake", step_delay=0, prepare=prepare, report_interval=0.1)


async def dashboard_ready(pilot, state=State.PAUSED):
    app = pilot.app
    dash = app.dashboard
    await wait_until(lambda: dash.session is not None and dash.model.state is state, what=f"{state} dashboard")
    dash.replot()
    dash.refresh_text()
    await pilot.pause()


def test_dashboard_snapshot(snap_compare):
    assert snap_compare(dashboard_app(), terminal_size=SIZE, run_before=dashboard_ready)


def test_dashboard_snapshot_80x24(snap_compare):
    assert snap_compare(dashboard_app(), terminal_size=(80, 24), run_before=dashboard_ready)


def test_fork_overlay_snapshot(snap_compare):
    """Three branches forked at step 600, 300 steps later: the overlay, the side-by-side table."""

    async def run_before(pilot):
        await dashboard_ready(pilot)
        dash = pilot.app.dashboard
        dash.model.forking = True
        dash.worker.request_fork(["summed", "grouped", {"strategy": "summed", "lr": {"x": 4e-3}, "name": "fast-x"}])
        await wait_until(lambda: dash.comparison is not None and dash.comparison.step_count == 900
                         and dash.comparison.state is State.FINISHED, what="finished comparison")
        await wait_until(lambda: all(r.state is State.FINISHED for r in dash.model.branches.reports.values())
                         and len(dash.model.branches.reports) == 3, what="reports")
        dash.replot()
        dash.refresh_text()
        await pilot.pause()

    assert snap_compare(dashboard_app(), terminal_size=SIZE, run_before=run_before)


def test_fork_dialog_snapshot(snap_compare):
    async def run_before(pilot):
        await dashboard_ready(pilot)
        await pilot.press("f")
        await wait_until(lambda: isinstance(pilot.app.screen, ForkScreen), what="fork dialog")
        pilot.app.screen.query_one("#strategies").highlighted = 0
        await pilot.press("down", "down", "space")
        await pilot.pause()

    assert snap_compare(dashboard_app(), terminal_size=(80, 24), run_before=run_before)


def test_fault_snapshot(snap_compare):
    """A rate of 1e9 and its fault: the banner names the change, the footer offers Rewind."""

    def diverged(session):
        history(session)
        session.set_lr("x", 1e9)
        session.run(5)

    async def run_before(pilot):
        await dashboard_ready(pilot, State.FAULTED)
        await wait_until(lambda: "Rewind" in footer_labels(pilot.app), what="the footer offers rewind")
        await pilot.pause()

    assert snap_compare(dashboard_app(prepare=diverged), terminal_size=(80, 24), run_before=run_before)


def test_diagnostics_snapshot(snap_compare):
    async def run_before(pilot):
        await dashboard_ready(pilot)
        await pilot.press("d")
        dash = pilot.app.dashboard
        dash.replot()
        dash.refresh_text()
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


def test_imbalanced_scales_opens_on_a_log_scale_snapshot(snap_compare):
    """Its losses are ~1000x apart: on a linear axis both curves sat on 0 behind the first steps."""
    def plain(session):
        session.run(600)
        session.state = State.PAUSED

    preset = load_preset("imbalanced-scales").with_changes(training={"steps": 300})
    assert snap_compare(dashboard_app(preset, plain), terminal_size=(80, 24), run_before=dashboard_ready)


@pytest.fixture
def fixed_picker_presets(monkeypatch):
    shutil.rmtree(FIXED_PRESETS, ignore_errors=True)
    FIXED_PRESETS.mkdir(parents=True)
    shutil.copy(shipped_presets_dir() / "quickstart.toml", FIXED_PRESETS / "quickstart.toml")
    (FIXED_PRESETS / "broken.toml").write_text('name = "broken"\n[model]\ninput_shape = [16, 16, 1]\n')
    entries = [PresetFile("shipped", FIXED_PRESETS / "quickstart.toml"),
               PresetFile("user", FIXED_PRESETS / "broken.toml")]
    monkeypatch.setattr("tui_mtl.ui.screens.picker.preset_files", lambda: entries)
    yield
    shutil.rmtree(FIXED_PRESETS, ignore_errors=True)


def test_picker_snapshot(snap_compare, fixed_picker_presets):
    assert snap_compare(make_app(PICKER), terminal_size=SIZE)


def test_picker_broken_preset_snapshot(snap_compare, fixed_picker_presets):
    assert snap_compare(make_app(PICKER), terminal_size=SIZE, press=["down"])


def test_sweep_table_snapshot_at_80x24(snap_compare):
    """The rate sweep's table as trials finish: ranked (complete by objective, pruned, failed), the best
    starred; at 80x24, the smallest size the app supports."""
    from tui_mtl.ui.screens.sweep_table import SweepScreen
    from tui_mtl.ui.sweep_job import SweepTrials, TrialRow, ranked

    rows = [TrialRow(0, "lr shape 0.00695", 0.1323, "complete"), TrialRow(1, "lr shape 0.000628", 0.3356, "complete"),
            TrialRow(2, "lr shape 0.000885", None, "pruned at step 200"),
            TrialRow(3, "lr shape 0.0099", None, "failed (diverged)"),
            TrialRow(4, "lr shape 0.00386", 0.1663, "complete")]
    trials = SweepTrials("shape", 8, ranked(rows))

    async def run_before(pilot):
        await dashboard_ready(pilot)
        pilot.app.push_screen(SweepScreen(trials, "summed", 300))
        await wait_until(lambda: isinstance(pilot.app.screen, SweepScreen), what="sweep table")
        await pilot.pause()

    assert snap_compare(dashboard_app(), terminal_size=(80, 24), run_before=run_before)
