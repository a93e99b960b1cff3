"""The UI's budget of a core while training: the rule on a fake clock, then on the real engine."""

from __future__ import annotations

import asyncio

from tui_mtl.engine import State
from tui_mtl.ui.refresh_budget import RefreshBudget
from tui_mtl.ui.widgets.loss_plot import LossPlot

from .conftest import make_app, press, started, ui_preset, wait_until


class Clocks:
    def __init__(self) -> None:
        self.wall = 100.0
        self.cpu = 5.0


def budget(share: float, longest_wait: float = 10.0) -> tuple[RefreshBudget, Clocks]:
    clocks = Clocks()
    return RefreshBudget(share, longest_wait, clock=lambda: clocks.wall, cpu=lambda: clocks.cpu), clocks


def test_the_first_redraw_is_allowed_then_the_next_waits_until_the_last_is_paid_for():
    rule, clocks = budget(0.05)
    assert rule.allows()
    rule.begin()
    clocks.cpu += 0.040  # the redraw cost 40 ms of the thread's time: 0.8 s at 5 % of a core
    clocks.wall += 0.5
    assert not rule.allows()
    clocks.wall += 0.25
    assert not rule.allows()
    clocks.wall += 0.0625
    assert rule.allows()


def test_other_work_of_the_thread_counts_against_the_budget_too():
    rule, clocks = budget(0.05)
    rule.begin()
    clocks.cpu += 0.040
    clocks.wall += 1.0
    assert rule.allows()
    clocks.cpu += 0.020  # e.g. text refreshes since: 60 ms in 1 s is over 5 %
    assert not rule.allows()


def test_plots_are_never_older_than_the_longest_wait_however_costly():
    rule, clocks = budget(0.0, longest_wait=3.0)
    rule.begin()
    clocks.cpu += 0.001
    clocks.wall += 2.75
    assert not rule.allows()
    clocks.wall += 0.25
    assert rule.allows()
    rule.begin()  # and the wait starts again from this redraw
    clocks.cpu += 0.001
    clocks.wall += 1.0
    assert not rule.allows()


def newest_step(plot: LossPlot) -> float:
    """The last step the plot shows (-1 before it shows any)."""
    if plot.awaiting_turn:
        return -1
    plot.render()
    data = plot.last_data
    return -1 if data is None or data.empty else max(data.train[0])


async def test_while_training_plots_keep_to_the_budget_and_a_pause_draws_them_at_once():
    """With no budget to spend, training redraws no plot; pausing redraws them with the step it paused
    at (the budget binds only while training shares the cores)."""
    app = make_app(ui_preset(training={"steps": 100000}))
    async with app.run_test(size=(120, 40)):
        dash = await started(app)
        await wait_until(lambda: dash.plot_updates > 0 and dash.model.state is State.RUNNING, what="a first plot")
        dash.plot_budget = RefreshBudget(0.0, longest_wait=3600)
        dash.plot_budget.begin()
        redraws = dash.plot_updates
        step = dash.session.step_count
        await wait_until(lambda: dash.model.report.step > step + 200, what="200 more steps")
        await asyncio.sleep(1.0)  # two turns of the plot timer
        assert dash.plot_updates == redraws
        await press(app, "space")
        await wait_until(lambda: dash.model.state is State.PAUSED, what="paused")
        paused_at = dash.session.step_count
        await wait_until(lambda: dash.plot_updates > redraws, what="a redraw once paused")
        plot = app.screen.query_one("#plot-shape", LossPlot)
        await wait_until(lambda: newest_step(plot) >= paused_at, what=lambda: f"step {paused_at} plotted")


async def test_however_costly_the_plots_follow_training_every_longest_wait():
    app = make_app(ui_preset(training={"steps": 100000}))
    async with app.run_test(size=(120, 40)):
        dash = await started(app)
        dash.plot_budget = RefreshBudget(0.0, longest_wait=0.3)
        plot = app.screen.query_one("#plot-shape", LossPlot)
        await wait_until(lambda: newest_step(plot) > 0, what="a first plot")
        for _ in range(3):
            seen = newest_step(plot)
            await wait_until(lambda seen=seen: dash.model.state is State.RUNNING and newest_step(plot) > seen,
                             what=f"a newer plot than step {seen}")
