"""The Session on the real engine: commands at step boundaries, no retracing, state kept across
switches, reports, restart, and runs that never wait on a pause nobody can lift."""

import threading
import time

import numpy as np
import pytest

from tests.conftest import tiny_preset, wait_for
from tui_mtl.engine import Session, State
from tui_mtl.errors import CommandError


def slots(strategy) -> list:
    return [v.numpy().copy() for opt in strategy.layout.optimizers().values() for v in opt.variables]


def max_change(before, after) -> float:
    return max(float(np.max(np.abs(a - b))) for a, b in zip(before, after))


def test_switching_keeps_weights_and_each_strategys_optimizer_state(tiny):
    session = Session(tiny)
    session.run(5)
    summed = session.stepper.strategy("summed")
    summed_state = slots(summed)
    weights_before = [np.array(w) for w in session.model.get_weights()]

    session.set_strategy("grouped")
    assert session.strategy == "grouped"
    # switching itself changes no weight
    assert all(np.array_equal(a, b) for a, b in zip(weights_before, session.model.get_weights()))
    session.run(5)
    # summed's optimizers were untouched while grouped trained
    assert all(np.array_equal(a, b) for a, b in zip(summed_state, slots(summed)))
    assert int(summed.layout.optimizers()["trunk"].iterations) == 5
    grouped = session.stepper.strategy("grouped")
    assert all(int(opt.iterations) == 5 for opt in grouped.layout.optimizers().values())

    session.set_strategy("summed")
    session.run(3)
    assert int(summed.layout.optimizers()["trunk"].iterations) == 8  # resumed, not restarted
    assert session.step_count == 13
    assert [e.text for e in session.events if e.kind == "strategy"] == ["grouped", "summed"]


def test_rates_weights_and_strategies_change_without_retracing():
    session = Session(tiny_preset(training={"diagnostics_every": 4}))
    session.run(4)  # a plain and a diagnostic step under summed
    session.set_strategy("grouped")
    session.run(4)
    first_use = dict(session.trace_counts)
    assert first_use == {"summed": 2, "grouped": 2}  # one trace each for plain and diagnostic steps
    for value in (0.02, 0.005, 0.001):
        session.set_lr("size", value)
        session.set_weight("shape", value * 100)
        session.set_lr("trunk", value)
        session.run(4)
        session.set_strategy("summed" if session.strategy == "grouped" else "grouped")
        session.run(4)
    assert session.trace_counts == first_use


def test_traces_of_the_least_recently_used_strategies_are_dropped_and_redone_exactly(monkeypatch):
    """Cycling through more strategies than KEPT_TRACES keeps only the recent traces (memory stays
    flat); a dropped strategy traces again when used, and trains to exactly the same weights."""
    from tui_mtl.engine.tf import stepper

    cycle = ["summed", "grouped", "pcgrad", "summed+dwa", "mgda"]

    def cycled(kept: int):
        monkeypatch.setattr(stepper, "KEPT_TRACES", kept)
        session = Session(tiny_preset(training={"diagnostics_every": 0}))
        for name in cycle * 2:
            session.set_strategy(name)
            session.run(2)
        return session

    kept_all, kept_two = cycled(len(cycle)), cycled(2)
    assert set(kept_all.trace_counts.values()) == {1}  # each traced once
    assert set(kept_two.trace_counts.values()) == {2}  # each dropped, then traced again on its second use
    assert len(kept_two.stepper._steps) == len(cycle)  # every strategy (its optimizers) is still there
    for a, b in zip(kept_all.model.get_weights(), kept_two.model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_rates_and_weights_reach_the_optimizers_and_the_loss(tiny):
    session = Session(tiny)
    session.set_lr("shape", 0.123)
    session.set_lr("trunk", 0.0042)
    session.set_weight("bright", 4.0)
    summed = session.stepper.strategy("summed").layout.optimizers()
    assert float(summed["shape"].learning_rate) == pytest.approx(0.123)
    assert float(summed["trunk"].learning_rate) == pytest.approx(0.0042)
    assert session.effective_weights() == pytest.approx({"size": 0.3, "shape": 0.7, "bright": 4.0})
    session.set_strategy("grouped")  # a strategy built later gets the rates in force
    grouped = session.stepper.strategy("grouped").layout.optimizers()
    assert float(grouped["shape"].learning_rate) == pytest.approx(0.123)
    report = session.run(2)
    assert report.learning_rates["shape"] == pytest.approx(0.123)
    assert report.weights["bright"] == 4.0
    # the reported total is the weighted sum of the reported per-head losses
    expected = sum(report.weights[h] * report.train_loss[h] for h in session.head_names)
    assert report.total_loss == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("call,args,fragment", [
    ("set_lr", ("nope", 0.1), "unknown head 'nope'"),
    ("set_lr", ("size", 0.0), "must be a finite number > 0"),
    ("set_lr", ("size", float("nan")), "must be a finite number > 0"),
    ("set_lr", ("size", "fast"), "must be a finite number > 0, got 'fast'"),
    ("set_weight", ("size", -1.0), "must be a finite number >= 0"),
    ("set_weight", ("trunk", 1.0), "unknown head 'trunk'"),
    ("set_loss_scale", ("size", 0), "must be a finite number > 0"),
    ("set_strategy", ("sideways",), "unknown strategy 'sideways'"),
    ("set_strategy", ("pcgrad@alternating",), "nothing to aggregate"),
    ("extend", (0,), "steps: must be a whole number > 0, got 0"),
    ("extend", (2.5,), "steps: must be a whole number > 0, got 2.5"),
    ("run", (-1,), "steps: must be a whole number >= 0, got -1"),
])
def test_bad_commands_are_refused_and_change_nothing(tiny, call, args, fragment):
    session = Session(tiny)
    before = (dict(session.learning_rates), dict(session.weights), session.strategy)
    with pytest.raises(CommandError, match=fragment):
        getattr(session, call)(*args)
    assert (session.learning_rates, session.weights, session.strategy) == before
    assert session.events == []


def test_reports_carry_train_and_validation_values(tiny):
    session = Session(tiny, report_every=5)
    reports = []
    session.subscribe(reports.append)
    session.run(20)
    running = [r for r in reports if r.state == "running"]
    assert [r.step for r in running] == [5, 10, 15, 20]
    assert reports[-1].state is State.FINISHED
    with_val = [r for r in reports if r.val_loss is not None]
    assert [r.step for r in with_val] == [10, 20]  # validate_every = 10
    for r in with_val:
        assert set(r.val_loss) == set(session.head_names)
        assert 0.0 <= r.val_metric["shape"] <= 1.0
    # the reported train loss is the mean over the steps since the previous report
    for r in running:
        assert all(np.isfinite(v) and v > 0 for v in r.train_loss.values())
    steps, values = session.history.snapshot("size")["train"]
    assert steps == [5, 10, 15, 20]
    assert values == pytest.approx([r.train_loss["size"] for r in running])


def test_losses_fall_on_the_quickstart_preset():
    from tui_mtl import load_preset

    session = Session(load_preset("quickstart"), report_every=50)
    first = session.validate()[0]
    session.run(300)
    last = session.validate()[0]
    for head in session.head_names:
        assert last[head] < 0.7 * first[head], head


def test_commands_from_another_thread_apply_at_step_boundaries(tiny):
    session = Session(tiny, report_interval=0.01)
    reports = []
    session.subscribe(reports.append)
    session.run(1)  # trace before timing anything
    worker = threading.Thread(target=session.run, args=(100000,))
    worker.start()
    try:
        # generous deadlines: a diagnostic step traces its own variant (seconds on a loaded CI box)
        def where() -> tuple:
            return session.state, session.step_count, session.fault, worker.is_alive()

        assert wait_for(lambda: session.step_count > 20, 60), where()
        session.set_lr("size", 0.0005)
        session.set_strategy("grouped")
        assert session.flush(60)  # applied by the training thread at a step boundary
        step = session.step_count
        assert wait_for(lambda: session.step_count > step + 20, 60), where()
        session.pause()  # waits for the step under way, which may be tracing a diagnostic variant (CI: >5 s)
        assert wait_for(lambda: reports and reports[-1].state is State.PAUSED, 60), where()
        paused_at = session.step_count
        time.sleep(0.3)
        assert session.step_count == paused_at  # paused means no steps
        session.set_weight("shape", 2.5)  # applied while paused
        assert wait_for(lambda: session.weights["shape"] == 2.5, 60), where()
        session.resume()
        assert wait_for(lambda: session.step_count > paused_at, 60), where()
    finally:
        session.stop()
        worker.join(timeout=10)
    assert not worker.is_alive()
    assert reports[-1].state is State.STOPPED
    kinds = [e.kind for e in session.events]
    assert kinds == ["lr", "strategy", "pause", "weight", "resume"], session.events
    lr_event = session.events[0]
    after = [r for r in reports if r.step >= lr_event.step and r.state == "running"]
    assert after and after[-1].learning_rates["size"] == 0.0005
    assert after[-1].strategy == "grouped"


def fresh_like(preset, strategy: str, steps: int) -> list:
    session = Session(preset)
    session.set_strategy(strategy)
    session.run(steps)
    return session.model.get_weights()


@pytest.mark.parametrize("strategy", ["summed", "grouped+dwa"])
def test_after_reset_a_session_trains_exactly_like_a_new_one(strategy):
    """The restart bug: reset() zeroed every optimizer variable, learning rates included, so nothing
    trained again. Now: fresh weights and fresh state for every strategy, the batches from the start."""
    preset = tiny_preset(training={"diagnostics_every": 0})
    session = Session(preset)
    session.run(30)
    session.set_strategy("pcgrad")  # a strategy with state that the reset must also clear
    session.run(10)
    session.set_strategy(strategy)
    session.run(10)
    session.reset()
    assert session.step_count == 0
    assert all(np.array_equal(a, b) for a, b in zip(session.stepper.initial_weights, session.model.get_weights()))
    before = [w.copy() for w in session.model.get_weights()]
    session.run(20)
    assert max_change(before, session.model.get_weights()) > 1e-3  # it trains again
    expected = fresh_like(preset, strategy, 20)
    assert max_change(expected, session.model.get_weights()) < 1e-6


def test_reset_before_the_first_step_still_trains(tiny):
    session = Session(tiny)
    session.reset()
    before = [w.copy() for w in session.model.get_weights()]
    session.run(10)
    assert max_change(before, session.model.get_weights()) > 1e-3
    assert max_change(fresh_like(tiny, "summed", 10), session.model.get_weights()) < 1e-6


def test_reset_keeps_rates_weights_and_strategy_and_zeroes_every_optimizer(tiny):
    session = Session(tiny)
    session.set_lr("size", 0.02)
    session.run(5)
    session.set_strategy("grouped")
    session.run(5)
    session.reset()
    assert session.strategy == "grouped" and session.learning_rates["size"] == 0.02
    for name in ("summed", "grouped"):
        for owner, optimizer in session.stepper.strategy(name).layout.optimizers().items():
            assert int(optimizer.iterations) == 0
            assert float(optimizer.learning_rate) == pytest.approx(session.learning_rates[owner])
            assert all(not np.any(v.numpy()) for v in optimizer.variables[2:])  # every moment is zero


def test_current_preset_reproduces_the_settings_in_force(tiny):
    session = Session(tiny)
    session.set_strategy("grouped")
    session.set_lr("size", 0.0003)
    session.set_weight("bright", 0.25)
    session.set_lr("trunk", 0.002)
    saved = session.current_preset(name="mine")
    assert saved.name == "mine"
    assert saved.strategy.name == "grouped"
    assert saved.model.head("size").learning_rate == 0.0003
    assert saved.model.head("bright").weight == 0.25
    assert saved.training.trunk_learning_rate == 0.002
    reopened = Session(saved)
    assert reopened.strategy == "grouped"
    assert reopened.learning_rates == session.learning_rates
    assert reopened.weights == session.weights


def test_current_preset_keeps_the_strategy_parameters_in_force():
    session = Session(tiny_preset(strategy={"name": "summed+dwa", "weighting": {"window": 7}}))
    session.set_strategy("grouped+dwa")
    saved = session.current_preset()
    assert saved.strategy.name == "grouped+dwa" and saved.strategy.weighting == {"window": 7}
    session.set_strategy("grouped")
    assert session.current_preset().strategy.weighting == {}


def test_an_error_in_training_is_reported_then_raised(tiny):
    session = Session(tiny)
    reports = []
    session.subscribe(reports.append)

    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    session.stepper.step = session.stepper.steps = broken  # one step per call, or fused
    with pytest.raises(RuntimeError, match="boom"):
        session.run(3)
    assert reports[-1].state is State.FAILED
    assert "boom" in reports[-1].message


def test_close_is_not_lost_before_run_and_flush_waits_for_queued_commands(tiny):
    session = Session(tiny, report_interval=0.01)
    session.run(1)
    worker = threading.Thread(target=session.run, args=(100000,))
    worker.start()
    try:
        assert wait_for(lambda: session.step_count > 3)
        session.set_lr("size", 0.0007)
        assert session.flush(timeout=10)
        assert session.learning_rates["size"] == 0.0007  # applied by the training thread
    finally:
        session.close()
        worker.join(timeout=10)
    assert not worker.is_alive()
    before = session.step_count
    session.run(50)  # closed: returns at once
    assert session.step_count == before


def test_serve_trains_then_waits_for_commands_until_stopped(tiny):
    session = Session(tiny, report_interval=0.01)
    session.extend(15)
    reports = []
    session.subscribe(reports.append)
    worker = threading.Thread(target=session.serve)
    worker.start()
    try:
        assert wait_for(lambda: session.state is State.FINISHED and session.step_count == 15)
        time.sleep(0.1)
        assert session.step_count == 15 and worker.is_alive()  # served: it waits for more
        session.extend(10)
        assert wait_for(lambda: session.state is State.FINISHED and session.step_count == 25)
        session.set_lr("size", 0.004)  # applied by the serving thread while idle
        assert session.flush(5) and session.learning_rates["size"] == 0.004
    finally:
        session.stop()
        worker.join(timeout=10)
    assert not worker.is_alive()
    assert reports[-1].state is State.STOPPED


def test_after_reset_a_shuffled_stream_trains_exactly_like_a_new_session():
    """A second iterator over one shuffled pipeline has another order: reset takes a fresh pipeline."""
    preset = tiny_preset(data={"shuffle": True}, training={"diagnostics_every": 0})
    session = Session(preset)
    session.run(40)  # past an epoch: the shuffle moved on
    session.reset()
    session.run(15)
    assert max_change(fresh_like(preset, "summed", 15), session.model.get_weights()) < 1e-6


def on_a_fake_clock(preset, report_interval: float):
    """A Session whose clock moves only with its steps: 30 s for a call that compiles, then 10 ms a
    step (100 steps/s). Returns (session, now), `now[0]` the clock, which a test may also move."""
    now = [0.0]
    session = Session(preset.with_changes(training={"steps_per_call": 1, "diagnostics_every": 0}),
                      report_interval=report_interval, clock=lambda: now[0])
    step = session.stepper.step

    def timed(*args, **kwargs):
        outcome = step(*args, **kwargs)
        now[0] += 30.0 if outcome.traced else 0.01
        return outcome

    session.stepper.step = timed
    return session, now


def test_the_rate_and_train_time_leave_out_the_calls_that_compiled(tiny):
    """A call that traced takes seconds that say nothing about speed: the steps/s (and so the ETA)
    and the training time count only the calls that did not compile."""
    session, _now = on_a_fake_clock(tiny, report_interval=0.0)
    reports = []
    session.subscribe(reports.append)
    session.run(9)  # the first step compiles; the validation at step 10 is never reached
    assert session.stepper.trace_counts[session.strategy] == 1
    assert reports[-1].steps_per_sec == pytest.approx(100.0)
    assert session.train_seconds == pytest.approx(0.08)


def test_the_rate_after_a_pause_leaves_the_pause_out(tiny):
    """Found by a newcomer: after a pause the app showed 0.22 steps/s, the pause counted as training."""
    session, now = on_a_fake_clock(tiny, report_interval=0.05)
    reports = []
    session.subscribe(reports.append)
    worker = threading.Thread(target=session.run, args=(100000,))
    worker.start()
    try:
        assert wait_for(lambda: session.step_count > 20, 60)
        session.pause()
        assert wait_for(lambda: reports and reports[-1].state is State.PAUSED, 30)
        now[0] += 600.0  # ten minutes away
        seen = len(reports)
        session.resume()
        resumed_at = session.step_count
        assert wait_for(lambda: reports[-1].state is State.RUNNING and reports[-1].step > resumed_at + 20, 60)
    finally:
        session.stop()
        worker.join(timeout=30)
    after = [r for r in reports[seen:] if r.state is State.RUNNING and r.step > resumed_at]
    assert after and after[0].steps_per_sec == pytest.approx(100.0, rel=0.01)  # the first one already


def _train_and_drop(preset) -> None:
    session = Session(preset)
    session.run(12)  # single steps, a diagnostic one and fused calls
    session.set_strategy("grouped")
    session.run(12)


def test_a_dropped_session_leaves_nothing_behind_in_tensorflow(tiny):
    """Each traced optimizer update registers a gradient in TensorFlow's process-wide registry, and
    that entry kept the session's graphs alive: every session dropped (a restart, a fork's branch)
    used to leave ~35,000 objects behind for good."""
    import gc

    from tensorflow.python.framework import ops

    registry = ops._gradient_registry._registry
    _train_and_drop(tiny)  # the first session fills the process's one-time caches
    gc.collect()
    registered, objects = len(registry), len(gc.get_objects())
    _train_and_drop(tiny)
    gc.collect()
    assert len(registry) == registered
    assert len(gc.get_objects()) - objects < 2000
    live = Session(tiny)  # a session made afterwards still traces and trains
    before = [w.copy() for w in live.model.get_weights()]
    live.set_strategy("grouped")
    live.run(15)
    assert len(registry) > registered  # its own traces' entries stay while it lives
    assert any(not np.allclose(a, b) for a, b in zip(before, live.model.get_weights()))
