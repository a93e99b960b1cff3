"""Forks from the dashboard on the real engine: the dialog makes the state of every choice plain and
refuses a one-branch fork; training waits while it is open, so the branches start at the step it
was opened at; plots overlay the branches; v, b, x (after asking), space and the rate keys act on them."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from tui_mtl.engine import State
from tui_mtl.ui.screens.dialogs import ConfirmScreen
from tui_mtl.ui.screens.fork_dialog import ForkScreen
from tui_mtl.ui.screens.sweep_table import SweepScreen
from tui_mtl.ui.widgets.head_table import HeadTable

from .conftest import make_app, press, started, ui_preset, wait_until

SIZE = (120, 40)


def long_preset(**training):
    return ui_preset(training={"steps": 100000, **training})


def option_text(dialog, name: str) -> str:
    options = dialog.query_one("#strategies")
    return str(options.get_option(name).prompt)


async def open_dialog(app):
    await press(app, "f")
    await wait_until(lambda: isinstance(app.screen, ForkScreen) and app.screen.focused is not None,
                     what="fork dialog, mounted")  # its on_mount highlights the strategy in force
    await asyncio.sleep(0.05)
    return app.screen


async def tick(app, dialog, name: str) -> None:
    options = dialog.query_one("#strategies")
    options.highlighted = dialog.strategies.index(name)
    await press(app, "space")


async def test_the_dialog_shows_each_choice_plainly_and_refuses_one_branch():
    app = make_app(long_preset())
    async with app.run_test(size=SIZE) as pilot:
        dash = await started(app)
        dialog = await open_dialog(app)
        assert option_text(dialog, "summed").startswith("[x] summed")  # the strategy in force, ticked
        assert option_text(dialog, "grouped").startswith("[ ] grouped")
        plan = str(dialog.query_one("#fork-plan").render())
        assert "two branches or more" in plan
        await press(app, "space")  # unticks summed: the trap of the old dialog
        assert option_text(dialog, "summed").startswith("[ ]")
        await tick(app, dialog, "grouped")
        plan = str(dialog.query_one("#fork-plan").render())
        assert "two branches or more (only grouped now)" in plan and "press a to add summed" in plan
        await press(app, "enter")
        await asyncio.sleep(0.05)
        assert app.screen is dialog and dash.comparison is None  # refused: a comparison needs two
        await press(app, "a")  # adds the strategy in force back
        plan = str(dialog.query_one("#fork-plan").render())
        assert "will fork into: summed, grouped" in plan
        dialog.query_one("#other").value = "telepathy"
        await pilot.pause()
        assert "unknown strategy 'telepathy'" in str(dialog.query_one("#other-error").render())
        dialog.query_one("#other").value = "pcgrad@grouped"
        dialog.query_one("#lr").value = "size=abc"
        await pilot.pause()
        assert "must be a finite number > 0" in str(dialog.query_one("#lr-error").render())
        dialog.query_one("#lr").value = "size=1e-4"
        await pilot.pause()
        plan = str(dialog.query_one("#fork-plan").render())
        assert "summed, grouped, pcgrad@grouped, summed (size lr 0.0001)" in plan
        dialog.query_one("#seeds").value = "abc"
        await press(app, "escape")
        await wait_until(lambda: app.screen is dash, what="cancelled")
        await wait_until(lambda: dash.model.state is State.RUNNING, what="training resumes after esc")
        first_step = dialog.step
        await wait_until(lambda: dash.session.step_count > first_step + 20, what="training on")

        again = await open_dialog(app)  # the dialog is kept, and starts afresh at the step of now
        assert again is dialog and dialog.step > first_step
        assert option_text(dialog, "summed").startswith("[x] summed")
        assert all(option_text(dialog, n).startswith("[ ]") for n in ("grouped", "alternating"))
        assert [dialog.query_one(f"#{k}").value for k in ("other", "lr", "weight", "seeds")] == ["", "", "", ""]
        assert str(dialog.query_one("#seeds-error").render()) == ""
        assert dialog.query_one("#strategies").highlighted == dialog.strategies.index("summed")
        await tick(app, dialog, "grouped")
        await press(app, "enter")
        await wait_until(lambda: dash.comparison is not None, what="the fork from the dialog shown again")
        assert list(dash.comparison.branches) == ["summed", "grouped"]


async def test_training_waits_while_the_dialog_is_open_and_forks_from_that_step():
    app = make_app(long_preset(), record=True)
    async with app.run_test(size=SIZE):
        dash = await started(app)
        await wait_until(lambda: dash.session.step_count > 30, what="training")
        parent = dash.session
        dialog = await open_dialog(app)
        await wait_until(lambda: parent.state is State.PAUSED, what="paused for the dialog")
        opened_at = parent.step_count
        await asyncio.sleep(0.4)
        assert parent.step_count == opened_at  # "from this exact point" is true
        # the title names the step training paused at, not the last one shown before the key
        await wait_until(lambda: f"Fork at step {opened_at:,}:" in str(dialog.query_one("#fork-title").render()),
                         what=lambda: f"the title at step {opened_at}: {dialog.query_one('#fork-title').render()}")
        weights_then = [w.copy() for w in parent.model.get_weights()]
        await tick(app, dialog, "grouped")
        await press(app, "enter")  # forks (an option list's enter would untick grouped again)
        await wait_until(lambda: dash.comparison is not None, what="the fork")
        comparison = dash.comparison
        assert comparison.fork_step == opened_at
        await wait_until(lambda: comparison.step_count > opened_at + 40, what="branches train")
        assert all(np.array_equal(a, b) for a, b in zip(weights_then, parent.model.get_weights()))
        dash.replot()
        plot = app.screen.query_one("#plot-shape")
        plot.render()
        assert {"summed", "grouped"} <= set(plot.last_data.series)
        assert any(label.startswith("fork") for _step, label in plot.last_data.markers)
        legend = str(app.screen.query_one("#legend").render())  # one line for every branch, at any width
        assert "summed" in legend and "grouped" in legend
        header = " ".join(label for _k, label, _w in app.screen.query_one(HeadTable).columns)
        assert "▸summed" in header and "grouped" in header
        branches = dash.run_dir / "branches"
        assert {p.name for p in branches.iterdir()} == {"summed", "grouped"}


async def test_branch_keys_drop_asks_first_and_keys_act_on_the_selected_branch():
    app = make_app(long_preset())
    async with app.run_test(size=SIZE):
        dash = await started(app)
        dialog = await open_dialog(app)
        await tick(app, dialog, "grouped")
        await tick(app, dialog, "pcgrad")
        dialog.action_fork()
        await wait_until(lambda: dash.comparison is not None, what="the fork")
        comparison = dash.comparison
        await press(app, "b")
        assert dash.model.branches.current == "grouped" and dash.session is comparison.branches["grouped"]
        await press(app, "right_square_bracket")  # size's rate, in the grouped branch only
        await wait_until(lambda: comparison.branches["grouped"].learning_rates["size"] == pytest.approx(0.02),
                         what="rate in the branch")
        assert comparison.branches["summed"].learning_rates["size"] == pytest.approx(0.01)
        await press(app, "v")
        assert dash.model.branches.view.value == "one"
        await press(app, "x")
        await wait_until(lambda: isinstance(app.screen, ConfirmScreen), what="asks before dropping")
        await press(app, "n")
        await wait_until(lambda: app.screen is dash, what="kept")
        assert "summed" in comparison.branches
        await press(app, "x")
        await wait_until(lambda: isinstance(app.screen, ConfirmScreen), what="asks again")
        await press(app, "y")
        await wait_until(lambda: "summed" not in comparison.branches, what="dropped")
        assert dash.model.branches.names == ["grouped", "pcgrad"]
        await press(app, "space")
        await wait_until(lambda: comparison.state is State.PAUSED, what="space pauses every branch")
        steps = comparison.step_count
        await asyncio.sleep(0.3)
        assert comparison.step_count == steps


async def test_a_branch_that_diverges_pauses_the_comparison_and_rewind_brings_back_every_branch():
    app = make_app(long_preset(), snapshot_every=25)
    async with app.run_test(size=SIZE):
        dash = await started(app)
        dialog = await open_dialog(app)
        await tick(app, dialog, "grouped")
        dialog.action_fork()
        await wait_until(lambda: dash.comparison is not None, what="the fork")
        comparison = dash.comparison
        await wait_until(lambda: comparison.step_count > comparison.fork_step + 30, what="training")
        await press(app, "b")  # grouped
        for head_row in (0, 1, 2):  # 1e30: certain to overflow, whenever it lands (1e9 may leave dead ReLUs finite)
            dash.session.set_lr(dash.model.heads[head_row], 1e30)
        await wait_until(lambda: dash.model.state is State.FAULTED, what="the branch's fault", timeout=30)
        assert "branch grouped" in str(app.screen.query_one("#error").render())
        assert "grouped" in comparison.diverged
        await press(app, "z")
        await wait_until(lambda: not comparison.diverged and comparison.state is State.PAUSED, what="rewound")
        assert {b.step_count for b in comparison.branches.values()} == {comparison.step_count}
        assert comparison.branches["grouped"].learning_rates["size"] == pytest.approx(0.01)
        await press(app, "space")
        step = comparison.step_count
        await wait_until(lambda: comparison.step_count > step + 20 and not comparison.diverged, what="trains on")


async def test_a_fork_refused_by_the_engine_keeps_training(monkeypatch):
    from tui_mtl.engine.tf import memory

    monkeypatch.setattr(memory, "free_device_memory", lambda device=None: 1024)  # as if the GPU had 1 KiB free
    app = make_app(long_preset())
    async with app.run_test(size=SIZE):
        dash = await started(app)
        dialog = await open_dialog(app)
        await tick(app, dialog, "grouped")
        dialog.action_fork()
        await wait_until(lambda: not dash.model.forking and dash.comparison is None
                         and dash.model.state is State.RUNNING, what="refused, training again")
        step = dash.session.step_count
        await wait_until(lambda: dash.session.step_count > step + 20, what="still training")


async def test_fork_after_the_run_finished_trains_the_branches():
    app = make_app(ui_preset(training={"steps": 40}))
    async with app.run_test(size=SIZE):
        dash = await started(app)
        await wait_until(lambda: dash.model.state is State.FINISHED, what="finished")
        dialog = await open_dialog(app)
        await tick(app, dialog, "grouped")
        dialog.action_fork()
        await wait_until(lambda: dash.comparison is not None, what="fork")
        await wait_until(lambda: dash.comparison.step_count == 80 and dash.comparison.state is State.FINISHED,
                         what="branches trained", timeout=60)


async def test_at_80x24_the_legend_names_every_branch_even_when_they_need_two_lines():
    app = make_app(ui_preset(training={"steps": 20}))
    async with app.run_test(size=(80, 24)) as pilot:
        dash = await started(app)
        await wait_until(lambda: dash.model.state is State.FINISHED, what="finished")
        dialog = await open_dialog(app)
        for name in ("grouped", "pcgrad", "mgda", "cagrad"):
            await tick(app, dialog, name)
        dialog.query_one("#other").value = "pcgrad@grouped+uncertainty"
        await pilot.pause()
        dialog.action_fork()
        await wait_until(lambda: dash.comparison is not None and len(dash.comparison.branches) == 6, what="fork")
        await wait_until(lambda: app.screen.query_one("#legend").has_class("-shown"), what="legend (the overlay)")
        await pilot.pause()
        legend = app.screen.query_one("#legend")
        shown = " ".join(strip.text for strip in legend.render_lines(legend.region.reset_offset))
        names = list(dash.comparison.branches)
        assert len(str(legend.render())) > legend.region.width  # more than one line's worth...
        assert all(name in shown for name in names), (names, shown)  # ...and every name on screen


async def test_when_the_branches_finish_their_report_is_written_and_said():
    """The app's comparison gets the report `compare` writes: each branch's last validation after the
    fork, its curves, and the command that retrains it; the changes line says where it is."""
    import json

    app = make_app(ui_preset(training={"steps": 60, "validate_every": 20}), record=True)
    async with app.run_test(size=SIZE):
        dash = await started(app)
        await wait_until(lambda: dash.model.state is State.FINISHED, what="finished")
        dialog = await open_dialog(app)
        await tick(app, dialog, "grouped")
        await press(app, "enter")
        await wait_until(lambda: dash.comparison is not None, what="fork")
        comparison = dash.comparison
        page = dash.run_dir / "report.html"
        await wait_until(lambda: page.is_file() and f"comparison report: {page}" in (dash.model.note or ""),
                         what="the report, said", timeout=90)
        data = json.loads((dash.run_dir / "comparison.json").read_text())
        assert comparison.step_count == 120 and data["branches"] == "branches"
        for name, branch in comparison.branches.items():
            steps, values = branch.history.val["size"].points()
            assert steps[-1] == 120 and data["results"][name]["size"] == [pytest.approx(values[-1])]
        text = page.read_text()
        assert "Forked in the app at step 60" in text and "the last validation loss is at step 120" in text
        assert "--strategies summed,grouped --warmup 60 --steps 60" in text
        assert text.count("<svg") == 2 * len(comparison.branches["summed"].head_names)


async def test_fork_times_seeds_runs_compare_over_seeds_in_the_background_and_shows_its_verdict():
    """'× 2 seeds': the real `compare --seeds 2` in a child process, with the settings in force and
    the current step as warm-up; the live run stays paused and unforked; the verdict is shown."""
    import json
    import os
    from pathlib import Path

    app = make_app(ui_preset(training={"steps": 20, "validate_every": 10}), record=True)  # both: TUI_MTL_RUNS_DIR
    async with app.run_test(size=SIZE):
        dash = await started(app)
        await wait_until(lambda: dash.model.state is State.FINISHED, what="finished")
        dash.session.set_lr("size", 0.02)  # in force now: the seeds must train with it
        dash.session.flush()
        dialog = await open_dialog(app)
        await tick(app, dialog, "grouped")
        dialog.query_one("#seeds").value = "0"
        await asyncio.sleep(0.05)
        assert "a whole number from 1 to 50, got '0'" in str(dialog.query_one("#seeds-error").render())
        dialog.query_one("#seeds").value = "²"  # a digit to str.isdigit, not to int(): refused, no crash
        await asyncio.sleep(0.05)
        assert "got '²'" in str(dialog.query_one("#seeds-error").render())
        dialog.query_one("#lr").value = "size=0.5"
        dialog.query_one("#seeds").value = "2"
        await asyncio.sleep(0.05)
        assert "leave rates and weights empty" in str(dialog.query_one("#seeds-error").render())
        dialog.action_fork()
        assert app.screen is dialog  # refused
        dialog.query_one("#lr").value = ""
        await asyncio.sleep(0.05)
        assert "will compare over 2 seeds: summed, grouped" in str(dialog.query_one("#fork-plan").render())
        dialog.action_fork()
        await wait_until(lambda: app.screen is dash, what="dialog closed")
        await wait_until(lambda: dash.job is not None and not dash.job.running
                         and "verdict in" in (dash.model.note or ""), what="the comparison over seeds", timeout=300)
        assert dash.comparison is None and dash.session.step_count == 20  # the live run: not forked, not trained
        (run,) = [p for p in Path(os.environ["TUI_MTL_RUNS_DIR"]).iterdir() if (p / "comparison.json").is_file()]
        data = json.loads((run / "comparison.json").read_text())
        assert data["seeds"] == [0, 1] and set(data["results"]) == {"summed", "grouped"}
        assert "--warmup 20 --steps 20" in data["command"]
        from tui_mtl.presets import read_preset

        assert read_preset(run / "preset.toml").model.head("size").learning_rate == pytest.approx(0.02)
        assert f"verdict in {run / 'report.html'}" in dash.model.note
        output = (Path(dash.run_dir) / "jobs" / "seeds-1" / "output.log").read_text()  # kept beside the live run
        assert "verdict:" in output and f"report: {run / 'report.html'}" in output


async def test_quitting_during_times_seeds_lets_the_child_report_the_seeds_it_finished():
    """q while `compare --seeds` runs: the child gets SIGTERM, leaves out the seed under way, starts
    no other and writes its report, though nobody reads its output any more."""
    import json
    import os
    from pathlib import Path

    app = make_app(ui_preset(training={"steps": 30, "validate_every": 10}), record=True)
    async with app.run_test(size=SIZE):
        dash = await started(app)
        await wait_until(lambda: dash.model.state is State.FINISHED, what="finished")
        dialog = await open_dialog(app)
        await tick(app, dialog, "grouped")
        dialog.query_one("#seeds").value = "8"
        await asyncio.sleep(0.05)
        dialog.action_fork()
        await wait_until(lambda: app.screen is dash and dash.job is not None, what="the job started")
        await wait_until(lambda: "(1/8) done" in (dash.model.note or ""), what="the first seed", timeout=300)
        job = dash.job
        await press(app, "q")
    code = job._process.wait(timeout=120)
    assert code == 0
    (run,) = [p for p in Path(os.environ["TUI_MTL_RUNS_DIR"]).iterdir() if (p / "comparison.json").is_file()]
    seeds = json.loads((run / "comparison.json").read_text())["seeds"]
    assert 1 <= len(seeds) < 8 and seeds == list(range(len(seeds)))
    output = (job.folder / "output.log").read_text()
    assert f"stopped: {len(seeds)} seed(s) finished" in output and "report: " in output


async def test_o_sweeps_the_selected_heads_rate_in_the_background_and_shows_the_best_trials():
    """`o`: the real `tui-mtl sweep` of the selected head's rate (a decade either side, on the settings
    in force) in a child process; the run pauses and is not trained; trials are said, then the best."""
    import json
    import os
    from pathlib import Path

    app = make_app(ui_preset(training={"steps": 40, "validate_every": 10}))
    async with app.run_test(size=SIZE):
        dash = await started(app)
        await wait_until(lambda: dash.model.state is State.FINISHED, what="finished")
        await press(app, "down")
        await wait_until(lambda: dash.selected_head == "shape", what="shape selected")
        dash.session.set_lr("shape", 0.004)
        dash.session.flush()
        await wait_until(lambda: dash.model.rate_of("shape") == pytest.approx(0.004), what="the rate shown")
        await press(app, "o")
        await wait_until(lambda: dash.job is not None and isinstance(app.screen, SweepScreen),
                         what="the sweep started, its table shown")
        job = dash.job
        await press(app, "escape")  # the table closes, the sweep goes on
        await wait_until(lambda: app.screen is dash, what="the table closed")
        assert job.running
        await press(app, "o")  # while it runs: its table again, not a second sweep
        await wait_until(lambda: isinstance(app.screen, SweepScreen), what="the table again")
        said = []
        await wait_until(lambda: said.append(dash.model.note or "") or (
            dash.job is not None and not dash.job.running and "sweep shape lr done" in (dash.model.note or "")),
            what="the sweep", timeout=300)
        counts = [n.split(" trials")[0].split(": ")[-1] for n in said if " trials;" in n]
        assert counts and counts[-1] == "8/8" and "9/8" not in counts  # the CLI's table header is no trial
        assert dash.session.step_count == 40
        (run,) = [p for p in Path(os.environ["TUI_MTL_RUNS_DIR"]).iterdir() if (p / "sweep.json").is_file()]
        data = json.loads((run / "sweep.json").read_text())
        assert data["names"] == ["lr:shape"] and len(data["trials"]) == 8 and data["steps"] == 40
        assert all(0.0004 <= t["params"]["lr:shape"] <= 0.04 for t in data["trials"])
        complete = [t for t in data["trials"] if t["state"] == "COMPLETE"]
        best = min(complete, key=lambda t: t["values"][0])
        assert f"trial {best['number']}" in dash.model.note and (run / "report.html").is_file()
        assert dash.job is job
        table = app.screen
        assert isinstance(table, SweepScreen) and table.trials.done and len(table.trials.rows) == 8
        objectives = [r.objective for r in table.trials.rows if r.objective is not None]
        assert len(objectives) == len(complete) and objectives == sorted(objectives)  # ranked, the best first
        assert objectives[0] == pytest.approx(best["values"][0], rel=1e-3)
        shown = app.export_screenshot()  # what is on the screen
        assert shown.count("★") == 2  # the best row, and the hint that names it
        assert f"{objectives[0]:.4g}" in shown and "done,&#160;8/8&#160;trials" in shown
        assert "o&#160;then&#160;starts&#160;a&#160;new&#160;sweep" in shown  # the hint says what o does now


async def test_a_pause_reported_before_the_new_dialog_is_composed_sets_its_step():
    """`f` pushes a new dialog and pauses; the PAUSED report can come before the dialog composed (it
    crashed the app: the title was not there yet). The step is kept and the title shows it once composed."""
    app = make_app(ui_preset(training={"steps": 100000}))
    async with app.run_test(size=(120, 40)):
        dash = await started(app)
        screen = ForkScreen(dash.model.strategies, "summed", dash.session.head_names, step=1)
        mounted = app.push_screen(screen)
        screen.paused_at(1234)  # before compose: nothing to update yet
        await mounted
        await wait_until(lambda: "1,234" in str(screen.query_one("#fork-title").render()),
                         what="the title names the paused step")
        await press(app, "escape")
        await wait_until(lambda: app.screen is dash, what="back on the dashboard")
