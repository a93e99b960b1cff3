"""Run folders from the dashboard (issue 6): the recorder writes the folder, `c` checkpoints now, quitting
writes a final checkpoint, and the picker lists recent runs and resumes one."""

from __future__ import annotations

import asyncio
import csv

from tui_mtl.engine.checkpoint import read_meta
from tui_mtl.presets import load_preset
from tui_mtl.runs import new_run_dir, runs_root
from tui_mtl.ui.screens.dashboard import DashboardScreen
from tui_mtl.ui.screens.picker import PickerScreen
from tui_mtl.ui.widgets.status import EventLine

from .conftest import fake_recorder, make_app, press, wait_until
from .fakes import FakeSession

SIZE = (120, 40)


async def test_dashboard_writes_a_run_folder_checkpoints_on_c_and_on_quit():
    app = make_app(record=True)
    async with app.run_test(size=SIZE):
        dash = app.dashboard
        await wait_until(lambda: dash.session is not None and dash.reports_seen >= 3, what="reports")
        run = dash.run_dir
        assert run is not None and run.parent == runs_root()
        assert (run / "preset.toml").is_file() and (run / "events.jsonl").is_file()
        with open(run / "metrics.csv") as handle:
            rows = list(csv.DictReader(handle))
        assert rows and "loss_shape" in rows[0]
        await press(app, "c")
        await wait_until(lambda: (run / "checkpoint.npz").exists(), what="checkpoint on c")
        await wait_until(lambda: "checkpoint saved" in str(app.screen.query_one(EventLine).render()),
                         what="the changes line says so")
        assert read_meta(run / "checkpoint.npz")["preset"] == "quickstart"
        await press(app, "q")
    assert dash.wait_finished(5)
    meta = read_meta(run / "checkpoint.npz")
    assert meta["step"] == dash.session.step_count > 0  # the final checkpoint is the last step's


async def test_c_while_idle_checkpoints_in_the_worker():
    app = make_app(record=True, step_delay=0)
    async with app.run_test(size=SIZE):
        dash = app.dashboard
        await wait_until(lambda: dash.state == "finished", timeout=10, what="finished")
        await press(app, "c")
        await wait_until(lambda: dash.note and "checkpoint saved at step 2,000" in dash.note, what="note")
        assert read_meta(dash.run_dir / "checkpoint.npz")["step"] == 2000
        await press(app, "q")


def make_run(step: int = 120, strategy: str = "grouped"):
    """A run folder as the dashboard leaves it: preset.toml, metrics, a checkpoint at `step`."""
    preset = load_preset("quickstart")
    session = FakeSession(preset, prefill=step)
    session.strategy = strategy
    run = new_run_dir(preset.name)
    recorder = fake_recorder(run, session)
    recorder.close(final_checkpoint=True)
    return run


async def test_picker_lists_recent_runs_and_resumes_one():
    run = make_run(120, "grouped")
    app = make_app(None)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(lambda: isinstance(app.screen, PickerScreen), what="picker")
        picker = app.screen
        assert [r.path for r in picker.runs] == [run]
        assert picker.runs[0].step == 120 and picker.runs[0].strategy == "grouped"
        options = picker.query_one("#preset-list")
        index = next(i for i in range(options.option_count) if options.get_option_at_index(i).id == "run:0")
        assert "quickstart @120 grouped" in str(options.get_option_at_index(index).prompt)
        options.highlighted = index
        await pilot.pause()
        assert "step      120" in picker.detail_text
        await press(app, "enter")
        await wait_until(lambda: isinstance(app.screen, DashboardScreen), what="dashboard")
        dash = app.dashboard
        await wait_until(lambda: dash.session is not None and dash.reports_seen >= 1, what="resumed session")
        assert dash.run_dir == run and dash.session.loaded_from == run / "checkpoint.npz"
        assert dash.session.strategy == "grouped"
        await wait_until(lambda: dash.last_report.step > 120, what="training continues after the checkpoint")
        await press(app, "q")


async def test_a_run_without_checkpoint_is_listed_but_not_resumed():
    run = new_run_dir("quickstart")
    (run / "preset.toml").write_text(load_preset("quickstart").to_toml())
    app = make_app(None)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(lambda: isinstance(app.screen, PickerScreen), what="picker")
        picker = app.screen
        assert picker.runs[0].error and "no checkpoint" in picker.runs[0].error
        options = picker.query_one("#preset-list")
        options.highlighted = next(i for i in range(options.option_count)
                                   if options.get_option_at_index(i).id == "run:0")
        await pilot.pause()
        await press(app, "enter")
        await asyncio.sleep(0.1)
        assert app.screen is picker
