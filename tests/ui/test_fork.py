"""Forks from the dashboard (issue 5): pick branches in a modal, the worker forks at a step boundary and
trains a Comparison; plots overlay one curve per branch; v, b, x, space and the rate keys act on branches."""

from __future__ import annotations

import asyncio

import pytest

from tui_mtl.ui.screens.dialogs import ForkScreen
from tui_mtl.ui.widgets.head_table import HeadTable

from .conftest import make_app, press, wait_until

SIZE = (120, 40)


async def fork(app, *strategies: str, lr: str = ""):
    dash = app.dashboard
    await press(app, "f")
    await wait_until(lambda: isinstance(app.screen, ForkScreen), what="fork dialog")
    dialog = app.screen
    selection = dialog.query_one("#strategies")
    selection.deselect_all()
    for name in strategies:
        selection.select(name)
    if lr:
        dialog.query_one("#lr").value = lr
    await asyncio.sleep(0.02)
    dialog.action_fork()
    await wait_until(lambda: dash.comparison is not None, what="the fork")
    await wait_until(lambda: len(dash.branch_reports) == len(dash.branch_names), what="branch reports")
    return dash


async def test_fork_overlays_branches_and_drop_removes_one():
    app = make_app(record=True)
    async with app.run_test(size=SIZE):
        dash = app.dashboard
        await wait_until(lambda: dash.session is not None and dash.reports_seen >= 3, what="training")
        parent = dash.session
        dash = await fork(app, "summed", "grouped")
        assert dash.branch_names == ["summed", "grouped"]
        assert dash.fork_step == dash.comparison.fork_step == parent.step_count  # parent stopped at a boundary
        assert not parent._running
        step = dash.comparison.step_count
        await wait_until(lambda: dash.comparison.step_count > step + 40, what="branches train")
        # the overlay: per head, the shared history plus one series per branch, the fork marked
        dash.replot()
        plot = app.screen.query_one("#plot-shape")
        plot.render()
        assert {"summed", "grouped"} <= set(plot.last_data.series)
        assert all(len(plot.last_data.series[name][0]) >= 2 for name in ("summed", "grouped"))
        assert any(label.startswith("fork") for _step, label in plot.last_data.markers)
        assert "summed" in plot.border_subtitle and "grouped" in plot.border_subtitle
        # the table: each branch side by side, the best per head starred
        table = app.screen.query_one(HeadTable)
        header = " ".join(label for _k, label, _w in table.columns)
        assert "▸summed" in header and "grouped" in header
        rows = dash.compare_rows()
        assert sum("★" in cell for cell in rows[0].cells()) == 1
        # the run folder holds one folder per branch
        assert (dash.run_dir / "branches" / "grouped" / "preset.toml").is_file()

        # keys act on the current branch only
        await press(app, "b")
        assert dash.current_branch == "grouped"
        grouped, summed = dash.comparison.branches["grouped"], dash.comparison.branches["summed"]
        await press(app, "right_square_bracket")
        await wait_until(lambda: grouped.learning_rates["shape"] == pytest.approx(2e-3), what="grouped lr")
        assert summed.learning_rates["shape"] == pytest.approx(1e-3)
        assert "grouped" in str(app.screen.query_one("#strategy").render())
        await press(app, "c")  # checkpoints the current branch, into its own folder
        await wait_until(lambda: (dash.run_dir / "branches" / "grouped" / "checkpoint.npz").exists(),
                         what="the branch's checkpoint")
        assert not (dash.run_dir / "branches" / "summed" / "checkpoint.npz").exists()

        # one-branch view cycles through the branches, then back to the overlay
        await press(app, "v")
        assert dash.view == "one" and dash.current_branch == "summed"
        dash.replot()
        plot.render()
        assert "train" in plot.last_data.series and "grouped" not in plot.last_data.series
        assert "branch summed" in plot.border_title
        await press(app, "v")
        assert dash.view == "one" and dash.current_branch == "grouped"
        await press(app, "v")
        assert dash.view == "overlay"

        # space pauses every branch together
        await press(app, "space")
        await wait_until(lambda: dash.comparison.paused, what="comparison paused")
        step = dash.comparison.step_count
        await asyncio.sleep(0.1)
        assert dash.comparison.step_count == step
        await press(app, "space")
        await wait_until(lambda: dash.comparison.step_count > step, what="comparison resumed")

        # x drops the current branch; the last one is refused
        await press(app, "x")
        await wait_until(lambda: "grouped" not in dash.comparison.branches, what="branch dropped")
        assert dash.branch_names == ["summed"] and dash.current_branch == "summed"
        await wait_until(lambda: set(dash.branch_reports) == {"summed"}, what="reports")
        dash.replot()
        plot.render()
        assert "grouped" not in plot.last_data.series and "summed" in plot.last_data.series
        await press(app, "x")
        await asyncio.sleep(0.05)
        assert list(dash.comparison.branches) == ["summed"]
        assert any("last branch" in n.message for n in app._notifications)
        await press(app, "q")
    assert dash.wait_finished(5)
    assert (dash.run_dir / "branches" / "summed" / "checkpoint.npz").is_file()


async def test_fork_with_a_rate_change_and_save_the_current_branch():
    from tui_mtl.presets import read_preset, user_presets_dir
    from tui_mtl.ui.screens.dialogs import SavePresetScreen

    app = make_app()
    async with app.run_test(size=SIZE):
        dash = app.dashboard
        await wait_until(lambda: dash.session is not None and dash.reports_seen >= 2, what="training")
        dash = await fork(app, "grouped", lr="x=1e-4")
        assert len(dash.branch_names) == 2
        changed = dash.comparison.branches[dash.branch_names[1]]
        assert changed.learning_rates["x"] == pytest.approx(1e-4) and changed.strategy == "summed"
        await press(app, "b")
        await press(app, "ctrl+s")
        await wait_until(lambda: isinstance(app.screen, SavePresetScreen), what="save dialog")
        app.screen.query_one("#name").value = "from-branch"
        await press(app, "enter")
        path = user_presets_dir() / "from-branch.toml"
        await wait_until(path.exists, what="saved")
        assert read_preset(path).model.head("x").learning_rate == pytest.approx(1e-4)
        await press(app, "q")


async def test_fork_dialog_validates_inline():
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        dash = app.dashboard
        await wait_until(lambda: dash.session is not None, what="session")
        await press(app, "f")
        await wait_until(lambda: isinstance(app.screen, ForkScreen), what="fork dialog")
        dialog = app.screen
        for text, expected in (("x=abc", "not a number"), ("x=-1", "> 0"), ("x=nan", "finite"),
                               ("x=inf", "finite"), ("x=", "enter a number"), ("nohead=1", "unknown head"),
                               ("x=1,,", "empty entry"), ("x 1", "HEAD=VALUE")):
            dialog.query_one("#lr").value = text
            await pilot.pause()
            assert expected in str(dialog.query_one("#lr-error").render()), text
            dialog.action_fork()
            await asyncio.sleep(0.01)
            assert app.screen is dialog  # refused: nothing forked
        dialog.query_one("#lr").value = ""
        dialog.query_one("#weight").value = "x=-2"
        await pilot.pause()
        assert ">= 0" in str(dialog.query_one("#weight-error").render())
        dialog.query_one("#weight").value = ""
        dialog.query_one("#strategies").deselect_all()
        await pilot.pause()
        dialog.action_fork()
        await pilot.pause()
        assert "at least one" in str(dialog.query_one("#fork-error").render())
        await press(app, "escape")
        await wait_until(lambda: app.screen is dash, what="cancelled")
        assert dash.comparison is None


async def test_fork_refused_by_the_engine_keeps_training(monkeypatch):
    from tui_mtl.errors import CommandError

    from .fakes import FakeSession

    def refuse(self, branches, names=None):
        raise CommandError("fork needs about 900 MiB of device memory for 2 branch(es) but 100 MiB are free")

    monkeypatch.setattr(FakeSession, "fork", refuse)
    app = make_app()
    async with app.run_test(size=SIZE):
        dash = app.dashboard
        await wait_until(lambda: dash.session is not None and dash.reports_seen >= 2, what="training")
        dash.request_fork(["summed", "grouped"])
        await wait_until(lambda: any("900 MiB" in n.message for n in app._notifications), what="the reason")
        step = dash.session.step_count
        await wait_until(lambda: dash.session.step_count > step + 10 and dash.state == "running",
                         what="training goes on")
        assert dash.comparison is None
        await press(app, "q")


async def test_fork_after_the_run_finished_trains_the_branches():
    app = make_app(step_delay=0)
    async with app.run_test(size=SIZE):
        dash = app.dashboard
        await wait_until(lambda: dash.state == "finished", timeout=10, what="finished")
        dash.request_fork(["grouped", "pcgrad"])
        await wait_until(lambda: dash.comparison is not None, what="fork from idle")
        assert dash.fork_step == 2000
        await wait_until(lambda: dash.comparison.step_count > 2050, what="branches train")
        assert dash.state in ("running", "finished") and dash.error is None
        await press(app, "q")
