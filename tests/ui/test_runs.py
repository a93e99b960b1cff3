"""Run folders from the dashboard on the real engine: the recorder writes the folder, `c`
checkpoints now, quitting writes a final checkpoint, and the picker lists recent runs (with their
time) and resumes one, to its own target."""

from __future__ import annotations

import asyncio
import csv

from tui_mtl.engine import Session, State
from tui_mtl.engine.checkpoint import read_meta
from tui_mtl.runs import new_run_dir, runs_root
from tui_mtl.runs.recorder import RunRecorder
from tui_mtl.ui.screens.dashboard import DashboardScreen
from tui_mtl.ui.screens.picker import PickerScreen

from .conftest import PICKER, make_app, press, started, ui_preset, wait_until

SIZE = (120, 40)


async def test_dashboard_writes_a_run_folder_checkpoints_on_c_and_on_quit():
    app = make_app(ui_preset(training={"steps": 100000}), record=True)
    async with app.run_test(size=SIZE):
        dash = await started(app, reports=3)
        run = dash.run_dir
        assert run is not None and run.parent == runs_root()
        assert (run / "preset.toml").is_file() and (run / "events.jsonl").is_file()
        await wait_until(lambda: (run / "metrics.csv").stat().st_size > 0, what="metrics")
        with open(run / "metrics.csv") as handle:
            rows = list(csv.DictReader(handle))
        assert rows and "loss_shape" in rows[0]
        await press(app, "c")
        await wait_until(lambda: (run / "checkpoint.npz").exists(), what="checkpoint on c")
        assert read_meta(run / "checkpoint.npz")["preset"] == "tiny"
        await press(app, "q")
    assert dash.wait_finished(20)
    meta = read_meta(run / "checkpoint.npz")
    assert meta["step"] == dash.session.step_count > 0  # the final checkpoint is the last step's


async def test_c_while_idle_checkpoints_in_the_training_thread():
    app = make_app(ui_preset(training={"steps": 50}), record=True)
    async with app.run_test(size=SIZE):
        dash = await started(app)
        await wait_until(lambda: dash.model.state is State.FINISHED, timeout=30, what="finished")
        await press(app, "c")
        await wait_until(lambda: (dash.run_dir / "checkpoint.npz").exists(), what="checkpoint")
        assert read_meta(dash.run_dir / "checkpoint.npz")["step"] == 50


def make_run(preset, steps: int, strategy: str, target: int):
    """A run folder as the dashboard leaves it after `steps` of a `target`-step run."""
    session = Session(preset)
    session.set_strategy(strategy)
    session.run(steps)
    session.target = target  # stopped before its end (a quit)
    run = new_run_dir(preset.name)
    RunRecorder(run, session, tensorboard=False).close(final_checkpoint=True)
    return run


async def test_picker_lists_recent_runs_with_their_time_and_resumes_one_to_its_target():
    run = make_run(ui_preset(training={"steps": 400}), 40, "grouped", 90)
    app = make_app(PICKER)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(lambda: isinstance(app.screen, PickerScreen), what="picker")
        picker = app.screen
        assert [r.path for r in picker.runs] == [run]
        assert picker.runs[0].step == 40 and picker.runs[0].strategy == "grouped"
        options = picker.query_one("#preset-list")
        index = next(i for i in range(options.option_count) if options.get_option_at_index(i).id == "run:0")
        label = str(options.get_option_at_index(index).prompt)
        assert "tiny @40 grouped" in label and picker.runs[0].when in label and ":" in picker.runs[0].when
        options.highlighted = index
        await pilot.pause()
        assert "step      40" in picker.detail_text
        await press(app, "enter")
        await wait_until(lambda: isinstance(app.screen, DashboardScreen), what="dashboard")
        dash = app.dashboard
        await wait_until(lambda: dash.session is not None and dash.model.report is not None, what="resumed")
        assert dash.run_dir == run and dash.session.strategy == "grouped"
        await wait_until(lambda: dash.model.state is State.FINISHED, what="to its own target", timeout=60)
        assert dash.session.step_count == 90  # not 40 + 400


async def test_a_run_without_checkpoint_is_listed_but_not_resumed():
    run = new_run_dir("tiny")
    (run / "preset.toml").write_text(ui_preset().to_toml())
    app = make_app(PICKER)
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


def test_a_comparison_over_seeds_is_listed_as_one_with_its_report():
    from tui_mtl.ui.screens.picker import scan_runs

    plain = new_run_dir("tiny")
    (plain / "preset.toml").write_text(ui_preset().to_toml())
    seeds = new_run_dir("tiny-seeds")
    (seeds / "preset.toml").write_text(ui_preset().to_toml())
    (seeds / "comparison.json").write_text("{}")
    errors = {entry.path: entry.error for entry in scan_runs()}
    assert "report.html" in errors[seeds] and "seed-N/branches/" in errors[seeds]
    assert errors[plain] == "no checkpoint.npz: nothing to resume"
