"""Every key flow of the dashboard on the real engine: a Session on the tiny preset, trained by the
app's own worker. Keys are sent with `press` (no idle wait); each test waits for the effect it
asserts on the model, the engine and the screen."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
from textual.widgets._footer import FooterKey

from tui_mtl.engine import State
from tui_mtl.presets import read_preset, user_presets_dir
from tui_mtl.strategies.catalog import STRATEGY_NAMES
from tui_mtl.ui.screens.dialogs import ConfirmScreen, EditHeadScreen, SavePresetScreen
from tui_mtl.ui.screens.help import HelpScreen
from tui_mtl.ui.screens.picker import PickerScreen
from tui_mtl.ui.screens.strategy_picker import StrategyPickerScreen
from tui_mtl.ui.screens.too_small import TooSmallScreen
from tui_mtl.ui.widgets.diagnostics import DiagnosticsPanel
from tui_mtl.ui.widgets.loss_plot import LossPlot
from tui_mtl.ui.widgets.status import ErrorBanner, StrategyBar

from .conftest import footer_labels, make_app, press, started, ui_preset, wait_until

SIZE = (120, 40)


def weights(dash) -> list:
    return [np.array(w) for w in dash.session.model.get_weights()]


def moved(before, after) -> float:
    return max(float(np.max(np.abs(a - b))) for a, b in zip(before, after))


def row(dash, head):
    return next(r for r in dash.model.head_rows(dash.session.history) if r.head == head)


def banner(app) -> str:
    return str(app.screen.query_one(ErrorBanner).render())


async def test_dashboard_trains_and_shows_losses():
    app = make_app()
    async with app.run_test(size=SIZE):
        dash = await started(app)
        await wait_until(lambda: dash.model.report.step > 20,
                         what=lambda: f"steps (state {dash.model.state}, session at {dash.session.step_count})")
        first = {h: row(dash, h).train for h in ("size", "shape", "bright")}
        assert all(v is not None and np.isfinite(v) for v in first.values())
        step = dash.model.report.step
        await wait_until(lambda: dash.model.report.step > step + 100, what="more steps")
        dash.replot()
        await asyncio.sleep(0.05)
        assert row(dash, "shape").train != first["shape"]
        plot = app.screen.query_one("#plot-shape", LossPlot)
        plot.render()
        assert plot.last_data is not None and len(plot.last_data.train[0]) > 3
        assert len(plot.last_data.train[0]) <= 2 * plot.size.width + 2  # cost follows the width
        assert "waiting for the first reports" not in plot.render().plain  # each build starts clear
        assert "CPU (test)" in str(app.screen.query_one("#device").render())


async def test_space_pauses_and_resumes_and_the_footer_says_which():
    app = make_app(ui_preset(training={"steps": 100000}))
    async with app.run_test(size=SIZE):
        dash = await started(app)
        await wait_until(lambda: "Pause" in footer_labels(app), what="footer says Pause")
        keys = list(app.screen.query(FooterKey))
        await press(app, "space")
        await wait_until(lambda: dash.model.state is State.PAUSED, what="paused")
        await wait_until(lambda: "Resume" in footer_labels(app), what="footer says Resume")
        assert list(app.screen.query(FooterKey)) == keys  # relabelled in place, not rebuilt
        await press(app, "space")  # space now resumes: the key's action changed with its label
        await wait_until(lambda: "Pause" in footer_labels(app), what="footer says Pause again")
        await press(app, "space")
        await wait_until(lambda: "Resume" in footer_labels(app), what="footer says Resume again")
        paused_at = dash.session.step_count
        await asyncio.sleep(0.3)
        assert dash.session.step_count == paused_at
        await press(app, "space")
        await wait_until(lambda: dash.session.step_count > paused_at + 5, what="resumed")
        await wait_until(lambda: "Pause" in footer_labels(app), what="footer says Pause")


async def test_strategy_keys_and_the_picker_switch_the_engine():
    app = make_app(ui_preset(training={"steps": 100000}))
    async with app.run_test(size=SIZE) as pilot:
        dash = await started(app)
        await press(app, "s")
        await wait_until(lambda: dash.session.strategy == STRATEGY_NAMES[1], what="next strategy")
        await press(app, "4")
        await wait_until(lambda: dash.session.strategy == STRATEGY_NAMES[3], what="strategy 4")
        await press(app, "S")
        await wait_until(lambda: dash.session.strategy == STRATEGY_NAMES[2], what="previous")
        # any combination, by name: t, type, enter
        await press(app, "t")
        await wait_until(lambda: isinstance(app.screen, StrategyPickerScreen), what="strategy picker")
        app.screen.query_one("#query").value = "pcgrad grouped uncertainty"
        await pilot.pause()
        await press(app, "enter")
        await wait_until(lambda: dash.session.strategy == "pcgrad@grouped+uncertainty", what="picked by name")
        await wait_until(lambda: dash.model.report.strategy == "pcgrad@grouped+uncertainty", what="in force")
        assert "pcgrad@grouped+uncertainty" in str(app.screen.query_one(StrategyBar).render())
        before = weights(dash)
        await wait_until(lambda: moved(before, weights(dash)) > 1e-4, what="it trains")


async def test_rate_keys_act_on_the_selected_head_in_the_engine():
    app = make_app(ui_preset(training={"steps": 100000}))
    async with app.run_test(size=SIZE):
        dash = await started(app)
        await press(app, "down")  # shape
        await press(app, "right_square_bracket")
        await wait_until(lambda: dash.session.learning_rates["shape"] == pytest.approx(0.02), what="doubled")
        await press(app, "left_square_bracket")
        await wait_until(lambda: dash.session.learning_rates["shape"] == pytest.approx(0.01), what="halved")
        await press(app, "left_square_bracket")
        await wait_until(lambda: dash.session.learning_rates["shape"] == pytest.approx(0.005),
                         what=f"halved twice (now {dash.session.learning_rates['shape']})")
        optimizer = dash.session.stepper.strategy("summed").layout.optimizers()["shape"]
        await wait_until(lambda: float(optimizer.learning_rate) == pytest.approx(0.005), what="in the optimizer")
        await wait_until(lambda: not dash.model.pending, what="settled")
        assert row(dash, "shape").cells()[3] == "5e-03"


async def test_edit_modal_validates_inline_and_applies_to_the_engine():
    app = make_app(ui_preset(training={"steps": 100000}))
    async with app.run_test(size=SIZE) as pilot:
        dash = await started(app)
        await press(app, "e")
        await wait_until(lambda: isinstance(app.screen, EditHeadScreen), what="edit dialog")
        dialog = app.screen
        lr = dialog.query_one("#learning_rate")
        for bad, message in (("abc", "must be a finite number > 0"), ("-1", "> 0"), ("nan", "> 0"), ("", "enter")):
            lr.value = bad
            await pilot.pause()
            assert message in str(dialog.query_one("#learning_rate-error").render()), bad
        await press(app, "enter")
        await asyncio.sleep(0.05)
        assert app.screen is dialog  # refused: stays open, nothing sent
        assert dash.session.learning_rates["size"] == pytest.approx(0.01)
        lr.value = "0.004"
        dialog.query_one("#weight").value = "-1"
        await pilot.pause()
        assert ">= 0" in str(dialog.query_one("#weight-error").render())
        dialog.query_one("#weight").value = "2.5"
        dialog.query_one("#loss_scale").value = "1000"
        await press(app, "enter")
        await wait_until(lambda: app.screen is dash, what="dialog closed")
        await wait_until(lambda: dash.session.learning_rates["size"] == pytest.approx(0.004)
                         and dash.session.weights["size"] == 2.5 and dash.session.loss_scales["size"] == 1000,
                         what="edits applied")
        assert dash.session.effective_weights()["size"] == 2.5  # the engine's loss weight variable
        await wait_until(lambda: row(dash, "size").cells()[1] == "mse×1e3", what="the scale is shown")
        await press(app, "e")  # the dialog is kept: the same one, showing the values in force now
        await wait_until(lambda: isinstance(app.screen, EditHeadScreen), what="edit dialog again")
        assert app.screen is dialog
        assert [dialog.query_one(f"#{key}").value for key in ("learning_rate", "weight", "loss_scale")] == \
            ["0.004", "2.5", "1000"]
        lr.value = "abc"  # Esc cancels without a change
        await pilot.pause()
        await press(app, "escape")
        await wait_until(lambda: app.screen is dash, what="cancelled")
        assert dash.session.learning_rates["size"] == pytest.approx(0.004)
        await press(app, "e")  # what was typed and its error are gone; Enter applies the new value
        await wait_until(lambda: isinstance(app.screen, EditHeadScreen), what="edit dialog a third time")
        assert lr.value == "0.004" and str(dialog.query_one("#learning_rate-error").render()) == ""
        await wait_until(lambda: dialog.focused is lr, what="the rate field focused")
        await press(app, *"0.003", "enter")  # typing replaces the selected value
        await wait_until(lambda: dash.session.learning_rates["size"] == pytest.approx(0.003), what="applied again")


async def test_save_writes_the_settings_in_force_and_asks_before_overwriting_or_shadowing():
    app = make_app(ui_preset(training={"steps": 100000}))
    async with app.run_test(size=SIZE) as pilot:
        dash = await started(app)
        await press(app, "s", "right_square_bracket")
        await wait_until(lambda: dash.session.learning_rates["size"] == pytest.approx(0.02), what="lr x2")
        await press(app, "ctrl+s")
        await wait_until(lambda: isinstance(app.screen, SavePresetScreen), what="save dialog")
        name_input = app.screen.query_one("#name")
        assert name_input.value.startswith("tiny-")
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
        assert saved.strategy.name == STRATEGY_NAMES[1] and saved.name == "my-run"
        assert saved.model.head("size").learning_rate == pytest.approx(0.02)
        before = path.read_text()

        await press(app, "ctrl+s")  # the same name again: asks; "n" keeps the file
        await wait_until(lambda: isinstance(app.screen, SavePresetScreen), what="save dialog 2")
        assert app.screen.query_one("#name") is name_input  # the dialog is kept, and starts afresh
        assert name_input.value.startswith("tiny-")
        await wait_until(lambda: app.screen.focused is name_input, what="the name field focused")
        app.screen.query_one("#name").value = "my-run"
        await pilot.pause()
        assert "exists" in str(app.screen.query_one("#name-error").render())
        await press(app, "enter")
        await wait_until(lambda: isinstance(app.screen, ConfirmScreen), what="overwrite question")
        await press(app, "n")
        await wait_until(lambda: app.screen is dash, what="back")
        assert path.read_text() == before

        await press(app, "ctrl+s")  # a shipped preset's name: warns, asks, and only then shadows it
        await wait_until(lambda: isinstance(app.screen, SavePresetScreen), what="save dialog 3")
        app.screen.query_one("#name").value = "quickstart"
        await pilot.pause()
        assert "shipped preset" in str(app.screen.query_one("#name-error").render())
        await press(app, "enter")
        await wait_until(lambda: isinstance(app.screen, ConfirmScreen), what="shadow question")
        assert "shipped preset" in str(app.screen.query_one(".dialog-text").render())
        await press(app, "n")
        await wait_until(lambda: app.screen is dash, what="back 2")
        assert not (user_presets_dir() / "quickstart.toml").exists()


async def test_save_waits_for_a_change_not_yet_in_force():
    app = make_app(ui_preset(training={"steps": 100000}))
    async with app.run_test(size=SIZE):
        dash = await started(app)
        await press(app, "ctrl+s")
        await wait_until(lambda: isinstance(app.screen, SavePresetScreen), what="save dialog")
        app.screen.query_one("#name").value = "racy"
        dash.session.set_lr("bright", 0.02)  # as if a key was pressed just before saving
        await press(app, "enter")
        path = user_presets_dir() / "racy.toml"
        await wait_until(path.exists, what="written")
        assert read_preset(path).model.head("bright").learning_rate == pytest.approx(0.02)


async def test_restart_trains_again_from_fresh_weights():
    """The bug: after r, y the model never trained again (the optimizers' learning rates were zeroed)."""
    app = make_app(ui_preset(training={"steps": 300}))
    async with app.run_test(size=SIZE):
        dash = await started(app)
        await wait_until(lambda: dash.model.state is State.FINISHED, what="finished")
        trained = weights(dash)
        await press(app, "r")
        await wait_until(lambda: isinstance(app.screen, ConfirmScreen), what="confirm")
        await press(app, "n")
        await wait_until(lambda: app.screen is dash, what="declined")
        assert dash.session.step_count == 300
        await press(app, "r")
        await wait_until(lambda: isinstance(app.screen, ConfirmScreen), what="confirm 2")
        await press(app, "y")
        await wait_until(lambda: dash.session.step_count < 300, what="restarted")
        initial = dash.session.stepper.initial_weights
        await wait_until(lambda: dash.model.state is State.FINISHED and dash.session.step_count == 300,
                         what="trained the run again", timeout=60)
        again = weights(dash)
        assert moved(initial, again) > 1e-3  # it trained
        assert moved(trained, again) < 1e-5  # exactly like the first time: fresh state, same batches
        assert any(e.kind == "reset" for e in dash.session.history.markers())
        assert "ERROR" not in str(app.screen.query_one("#state").render())


async def test_divergence_blames_the_change_rewind_undoes_it_and_space_resumes_the_same_run():
    app = make_app(ui_preset(training={"steps": 2000}), snapshot_every=50)
    async with app.run_test(size=SIZE):
        dash = await started(app)
        await wait_until(lambda: dash.session.step_count > 120, what="healthy steps")
        # two changes: bright to a harmless 0.05, then the trunk to 1e30, which overflows at once. (A wild
        # first change made this flaky: bright at 1e9 can kill every trunk ReLU, and a dead trunk has zero
        # gradient, so 1e30 never overflows.) The fault blames the second; rewinding undoes both.
        for head_row, rate in ((2, "0.05"), (3, "1e30")):
            await press(app, *["down"] * (head_row - dash.query_one("#heads").cursor_row), "e")
            await wait_until(lambda: isinstance(app.screen, EditHeadScreen), what="edit")
            app.screen.query_one("#learning_rate").value = rate
            await press(app, "enter")
            await wait_until(lambda: app.screen is dash, what="edit applied")
        await wait_until(lambda: dash.model.state is State.FAULTED, what="the fault", timeout=30)
        text = banner(app)
        assert "non-finite" in text and "after trunk lr=1e+30" in text and "z rewind to step" in text
        assert "Traceback" not in text
        await wait_until(lambda: "Rewind" in footer_labels(app) and "Resume" in footer_labels(app), what="footer")
        fault = dash.model.report.fault
        target = dash.session.target
        await press(app, "z")
        await wait_until(lambda: dash.model.state is State.PAUSED, what="rewound")
        assert dash.session.step_count == fault.rewind_step
        # again, further back, until bright's rate is undone too (a periodic snapshot may lie between
        # the two changes when training runs fast: each z goes one snapshot back)
        for _ in range(4):
            rewound_to = dash.session.step_count
            await press(app, "z")
            await wait_until(lambda at=rewound_to: dash.session.step_count < at, what="further back")
            if dash.session.learning_rates["bright"] == pytest.approx(0.01):
                break
        assert dash.session.learning_rates["bright"] == pytest.approx(0.01)
        assert dash.session.learning_rates["trunk"] == pytest.approx(0.01)
        await press(app, "space")
        await wait_until(lambda: dash.model.state is State.FINISHED, what="the same run finished", timeout=60)
        assert dash.session.step_count == target == 2000  # resumed, not extended
        assert all(np.isfinite(v) for v in dash.model.report.train_loss.values())


async def test_space_on_a_fault_retries_the_same_run_and_restart_after_a_fault_trains_again():
    app = make_app(ui_preset(training={"steps": 600}))
    async with app.run_test(size=SIZE):
        dash = await started(app)
        await wait_until(lambda: dash.session.step_count > 40, what="healthy steps")
        dash.session.set_lr("trunk", 1e30)
        await wait_until(lambda: dash.model.state is State.FAULTED, what="the fault", timeout=30)
        faulted_at = dash.session.step_count
        await press(app, "space")  # straight from the error state, no rewind: the same run, retried
        await wait_until(lambda: dash.model.state is State.FAULTED and dash.session.step_count > faulted_at,
                         what="faulted again", timeout=30)
        assert dash.session.target == 600  # retried, never extended
        await press(app, "r")
        await wait_until(lambda: isinstance(app.screen, ConfirmScreen), what="confirm")
        question = str(app.screen.query_one(".dialog-text").render())
        assert "blamed on trunk lr=1e+30: if it is still in force, set it back first" in question  # the trap
        await press(app, "n")
        await wait_until(lambda: app.screen is dash, what="declined")
        dash.session.set_lr("trunk", 0.01)
        await press(app, "r")
        await wait_until(lambda: isinstance(app.screen, ConfirmScreen), what="confirm")
        await press(app, "y")
        await wait_until(lambda: dash.model.state is State.FINISHED and dash.session.step_count == 600,
                         what="the restarted run trained to its end", timeout=90)
        assert moved(dash.session.stepper.initial_weights, weights(dash)) > 1e-3
        assert all(np.isfinite(v) for v in dash.model.report.train_loss.values())
        assert not app.screen.query_one(ErrorBanner).has_class("-shown")
        assert "ERROR" not in str(app.screen.query_one("#state").render())


async def test_a_strategy_after_a_wreck_shows_no_raw_trace():
    app = make_app(ui_preset(training={"steps": 100000}))
    async with app.run_test(size=SIZE):
        dash = await started(app)
        dash.session.set_lr("trunk", 1e25)
        await wait_until(lambda: dash.model.state is State.FAULTED, what="fault", timeout=30)
        await press(app, "5")  # mgda on wrecked weights (its solver used to raise MatrixSolve)
        await wait_until(lambda: dash.session.strategy == "mgda", what="mgda")
        await press(app, "space")
        await asyncio.sleep(1.0)
        assert dash.model.state in (State.FAULTED, State.RUNNING)
        assert "InvalidArgument" not in banner(app) and "Traceback" not in banner(app)


async def test_finished_run_trains_on_with_space():
    app = make_app(ui_preset(training={"steps": 60}))
    async with app.run_test(size=SIZE):
        dash = await started(app)
        await wait_until(lambda: dash.model.state is State.FINISHED, what="finished")
        await wait_until(lambda: "Train on" in footer_labels(app), what="footer says Train on")
        await press(app, "space")
        await wait_until(lambda: dash.model.state is State.FINISHED and dash.session.step_count == 120,
                         what="another run", timeout=30)


async def test_log_toggle_is_remembered_and_applies_to_the_plots_shown():
    app = make_app(ui_preset(training={"steps": 100000}))
    async with app.run_test(size=SIZE):
        dash = await started(app)
        await wait_until(lambda: dash.session.step_count > 60, what="data")
        await press(app, "l")
        plot = app.screen.query_one("#plot-size", LossPlot)
        assert plot.log_scale and "log10" in plot.border_title
        plots = dash.head_plots()  # each is drawn again in log10 by the screen (one plot per frame)
        await wait_until(lambda: all(p.last_data is not None and p.last_data.log for p in plots),
                         what="every plot drawn in log10")
        dash.replot()
        plot.render()
        assert plot.last_data.log and plot.last_data.yticks
        await press(app, "d")  # diagnostics: l now acts on the gradient-norm plots shown
        panel = app.screen.query_one(DiagnosticsPanel)
        norm = panel.query_one("#diag-norm", LossPlot)
        assert norm.log_scale  # the scale in force
        await press(app, "l")
        assert not norm.log_scale and not dash.model.log_scale
        await press(app, "l")
        assert norm.log_scale
    from tui_mtl.ui import remembered

    assert remembered.log_scale("tiny", False) is True  # remembered for this preset


async def test_help_and_palette_name_every_strategy():
    app = make_app(ui_preset(training={"steps": 100000}))
    async with app.run_test(size=SIZE):
        dash = await started(app)
        await press(app, "question_mark")
        await wait_until(lambda: isinstance(app.screen, HelpScreen), what="help")
        await press(app, "escape")
        await wait_until(lambda: app.screen is dash, what="help closed")
        titles = {c.title: c for c in app.get_system_commands(dash)}
        assert {"Switch to the next strategy", "Double the selected head's learning rate",
                "Strategy: pcgrad+uncertainty", "Strategy: mgda@grouped+dwa"} <= set(titles)
        assert "trunk" in titles["Strategy: pcgrad@grouped"].help
        titles["Strategy: pcgrad+uncertainty"].callback()
        await wait_until(lambda: dash.session.strategy == "pcgrad+uncertainty", what="palette command")


async def test_quit_stops_the_worker_promptly_and_saves():
    app = make_app(ui_preset(training={"steps": 100000}), record=True)
    async with app.run_test(size=SIZE):
        dash = await started(app)
        session = dash.session
        await press(app, "q")
        await wait_until(lambda: not app.is_running, timeout=10, what="exit")
    assert dash.wait_finished(20)
    assert session.closed and (dash.run_dir / "checkpoint.npz").is_file()


async def test_a_session_that_cannot_start_shows_the_whole_message_and_esc_goes_back():
    preset = ui_preset(data={"source": "npz", "params": {"path": "/nowhere/missing-data-file.npz"}})
    app = make_app(preset)
    async with app.run_test(size=(80, 24)):
        dash = app.dashboard
        await wait_until(lambda: dash.model.failure is not None, what="the failure")
        text = banner(app)
        assert "Could not start the session" in text and "/nowhere/missing-data-file.npz" in text
        assert "esc: back to the preset picker" in text
        await press(app, "escape")
        await wait_until(lambda: isinstance(app.screen, PickerScreen), what="the picker")


async def test_too_small_message_replaces_layout_and_comes_back():
    app = make_app(ui_preset(training={"steps": 100000}))
    async with app.run_test(size=(60, 20)) as pilot:
        await wait_until(lambda: isinstance(app.screen, TooSmallScreen), what="too small")
        await pilot.resize_terminal(120, 40)
        await wait_until(lambda: app.screen is app.dashboard, what="dashboard back")
        await started(app)


async def test_usable_at_80x24_every_label_fits():
    app = make_app(ui_preset(training={"steps": 100000}))
    async with app.run_test(size=(80, 24)):
        dash = await started(app)
        await wait_until(lambda: dash.session.step_count > 60 and footer_labels(app), what="data")
        labels = footer_labels(app)
        assert {"Pause", "Strategy", "Fork", "Help", "Quit"} <= set(labels)
        width = sum(len(label) + 2 for label in labels)  # compact footer: "key label " per binding
        assert width <= 80 + 12


async def test_diagnostics_panel_shows_the_engines_numbers():
    app = make_app(ui_preset(training={"steps": 100000, "diagnostics_every": 10}))
    async with app.run_test(size=SIZE):
        dash = await started(app)
        await press(app, "d")
        panel = app.screen.query_one(DiagnosticsPanel)
        await wait_until(lambda: dash.model.last_diagnostics is not None, what="diagnostics")
        dash.refresh_text()
        text = panel.latest_text
        assert "grad norm" in text and "size~shape" in text
        diag = dash.model.last_diagnostics
        assert set(diag["grad_norm"]) == {"size", "shape", "bright"}
        assert sum(diag["update_share"].values()) == pytest.approx(1.0, abs=1e-3)
        await wait_until(lambda: all(p.last_data is not None and not p.last_data.empty for p in panel.log_plots()),
                         what="every diagnostics plot drawn, each on its turn")


async def test_plots_just_shown_are_built_one_per_frame_and_all_get_their_turn():
    """`d` shows three new plots: the key's frame draws the panel's layout and text, the plots follow
    one per frame (building all three in one frame was ~90 ms p95 while training on 2 cores; the
    first in the key's frame, 57-79)."""
    app = make_app(ui_preset(training={"steps": 100000, "diagnostics_every": 10}))
    async with app.run_test(size=SIZE):
        dash = await started(app)
        await wait_until(lambda: dash.model.last_diagnostics is not None, what="diagnostics")
        panel = app.screen.query_one(DiagnosticsPanel)
        dash.action_toggle_diagnostics()
        plots = panel.log_plots()
        assert [p.awaiting_turn for p in plots] == [True] * len(plots)
        builds = {p.id: 0 for p in plots}
        for plot in plots:
            plot._matrix_strips = (lambda build, name: lambda: (builds.__setitem__(name, builds[name] + 1),
                                                                build())[1])(plot._matrix_strips, plot.id)
        await wait_until(lambda: not any(p.awaiting_turn for p in plots) and all(builds.values()),
                         what=lambda: f"every plot built in turn: {builds}")
        assert all(p.last_data is not None and not p.last_data.empty for p in plots)
        assert all(len(p.render().plain.splitlines()) == p.size.height for p in plots)


async def test_the_first_step_of_a_strategy_says_it_compiles():
    """The '…' shown while a new strategy traced was unexplained (and its slow step made the ETA)."""
    app = make_app(ui_preset(training={"steps": 100000}))
    seen = []
    async with app.run_test(size=SIZE):
        dash = await started(app)
        dash.worker.reports.push = (lambda push: lambda item: (seen.append(item), push(item))[1])(
            dash.worker.reports.push)
        await press(app, "5")  # mgda: a new trace
        # (summed's diagnostic step traces too: a report of mgda's own trace is the one wanted)
        await wait_until(lambda: any(getattr(r, "tracing", False) and r.strategy == "mgda" for r in seen),
                         what="a report while mgda compiles")
        compiling = next(r for r in seen if getattr(r, "tracing", False) and r.strategy == "mgda")
        dash.model.take(compiling)
        dash.refresh_text()
        assert "compiling its step" in str(app.screen.query_one(StrategyBar).render())
        assert dash.model.state_label == "compiling"
