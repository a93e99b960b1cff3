"""Every strategy trains, switches without retracing, keeps its state; weightings follow their formulas."""

import numpy as np
import pytest
import tensorflow as tf

from tests.conftest import tiny_preset
from tui_mtl.engine import Session
from tui_mtl.errors import PresetError
from tui_mtl.presets import parse_preset
from tui_mtl.strategies import gradmath
from tui_mtl.strategies.catalog import STRATEGY_NAMES, all_strategies
from tui_mtl.strategies.weightings.dwa import dwa_weights
from tui_mtl.strategies.weightings.famo import famo_logit_gradient
from tui_mtl.strategies.weightings.gradnorm import gradnorm_weight_gradient

COMBINATIONS = ["pcgrad+uncertainty", "grouped+dwa", "alternating+famo", "mgda+gradnorm", "cagrad+random",
                "pcgrad@grouped", "mgda@grouped+uncertainty", "imtl@grouped+dwa"]


def iterations(strategy) -> list:
    return [int(opt.iterations) for opt in strategy.layout.optimizers().values()]


def covering_combinations() -> list[str]:
    """Each component on each gradient path the step builder has, in one run: every aggregator on
    `summed`; on `grouped` (a row per optimizer) `sum`, `pcgrad` and every aggregator with its own
    `aggregate` (state updates or losses); every weighting on the TOTAL (`summed`) and PER_HEAD
    (`pcgrad@grouped`) paths, and on the ONE_HEAD path (`alternating`) those that take gradients of
    their own parameters from the tape. (All combinations would cost ~1.2 s of tracing each.)"""
    from tui_mtl.strategies.base import Aggregator
    from tui_mtl.strategies.catalog import AGGREGATORS, WEIGHTINGS, StrategyName

    own_aggregate = [name for name, c in AGGREGATORS.items() if c.load().aggregate is not Aggregator.aggregate]
    names = ["grouped", "alternating", "pcgrad@grouped", *(StrategyName(a).canonical for a in AGGREGATORS),
             *(f"{a}@grouped" for a in own_aggregate)]
    for weighting, component in WEIGHTINGS.items():
        if weighting != "fixed":
            names += [f"summed+{weighting}", f"pcgrad@grouped+{weighting}"]
            if component.load().needs_tape:
                names.append(f"alternating+{weighting}")
    assert set(names) <= set(all_strategies())
    return names


def test_every_component_trains_switches_without_retracing_and_round_trips_its_state(monkeypatch):
    from tui_mtl.engine.tf import stepper

    names = covering_combinations() + [n for n in COMBINATIONS + list(STRATEGY_NAMES)
                                       if n not in covering_combinations()]
    monkeypatch.setattr(stepper, "KEPT_TRACES", len(names) + 1)  # every trace kept: none is redone
    session = Session(tiny_preset(training={"diagnostics_every": 0}))
    seen = {}
    for name in names:
        session.set_strategy(name)
        before = [w.copy() for w in session.model.get_weights()]
        report = session.run(3 if name.startswith("alternating") else 1)  # alternating: a trace per head
        assert report.strategy == name
        assert all(np.isfinite(v) for v in report.train_loss.values()), name
        moved = max(float(np.max(np.abs(a - b))) for a, b in zip(before, session.model.get_weights()))
        assert moved > 0, name
        seen[name] = iterations(session.stepper.strategy(name))
    traces = dict(session.trace_counts)
    for name in names:  # round trip: back to each one
        session.set_strategy(name)
        session.run(1)
        after = iterations(session.stepper.strategy(name))
        if name.startswith("alternating"):
            assert sum(after) == sum(seen[name]) + 1, name  # one head's optimizer per step
        else:
            assert max(after) == max(seen[name]) + 1, name  # resumed, not restarted
    assert session.trace_counts == traces
    # every strategy's state round-trips into another session (checkpoints and forks use this)
    state = session.capture()
    other = Session(tiny_preset(training={"diagnostics_every": 0}))
    other.stepper.restore(state)
    copied = other.capture()
    assert copied.strategies == state.strategies and copied.arrays.keys() == state.arrays.keys()
    assert all(np.array_equal(copied.arrays[k], v) for k, v in state.arrays.items())
    assert copied.python == state.python


def test_unknown_strategy_parameter_is_refused_with_its_name():
    text = tiny_preset().to_toml().replace('name = "summed"', 'name = "pcgrad"\nparams = { bogus = 1 }')
    with pytest.raises(PresetError, match="unknown parameter 'bogus' for pcgrad"):
        parse_preset(text)


def test_uncertainty_objective_and_gradient_match_the_formula(tiny):
    session = Session(tiny.with_changes(strategy={"name": "summed+uncertainty"}))
    weighting = session.stepper.strategy("summed+uncertainty").weighting
    s = np.array([0.5, -1.0, 0.2], np.float32)
    weighting.log_vars.assign(s)
    losses = [tf.constant(2.0), tf.constant(3.0), tf.constant(0.5)]
    L = np.array([2.0, 3.0, 0.5])
    with tf.GradientTape() as tape:
        objectives = weighting.objectives(losses)
        total = tf.add_n(objectives)
    np.testing.assert_allclose([float(o) for o in objectives], 0.5 * (np.exp(-s) * L + s), rtol=1e-6)
    np.testing.assert_allclose(tape.gradient(total, weighting.log_vars).numpy(), 0.5 * (1 - np.exp(-s) * L),
                               rtol=1e-5)
    np.testing.assert_allclose(weighting.current().numpy(), 0.5 * np.exp(-s), rtol=1e-6)


def test_dwa_weights_follow_the_loss_history(tiny):
    session = Session(tiny.with_changes(strategy={"name": "summed+dwa", "weighting": {"window": 2,
                                                                                        "temperature": 2.0}}))
    dwa = session.stepper.strategy("summed+dwa").weighting
    history = [[4.0, 1.0, 2.0], [2.0, 1.0, 2.0],  # window 1 means: [3, 1, 2]
               [1.0, 1.0, 3.0], [2.0, 1.0, 1.0]]  # window 2 means: [1.5, 1, 2]
    for step, losses in enumerate(history, start=1):
        dwa.observe(tf.constant(losses))
        if step < 4:
            np.testing.assert_allclose(dwa.current().numpy(), [1, 1, 1])  # until two windows have closed
    ratios = np.array([1.5 / 3, 1 / 1, 2 / 2])
    expected = 3 * np.exp(ratios / 2) / np.exp(ratios / 2).sum()
    np.testing.assert_allclose(dwa.current().numpy(), expected, rtol=1e-6)
    np.testing.assert_allclose(dwa_weights(tf.constant([1.5, 1.0, 2.0]), tf.constant([3.0, 1.0, 2.0]), 2.0),
                               expected, rtol=1e-6)
    # the head whose loss fell fastest (ratio 0.5) gets the smallest weight
    assert np.argmin(dwa.current().numpy()) == 0


def test_gradnorm_moves_weight_toward_the_slower_head():
    w = tf.constant([1.0, 1.0])
    unit_norms = tf.constant([1.0, 1.0])
    ratios = tf.constant([0.5, 1.0])  # head 0's loss halved; head 1's has not moved: it trains slower
    grad = gradnorm_weight_gradient(w, unit_norms, ratios, alpha=1.5).numpy()
    new = w.numpy() - 0.1 * grad
    assert new[1] > new[0]


def test_gradnorm_in_a_session_keeps_weights_summing_to_k(tiny):
    session = Session(tiny.with_changes(strategy={"name": "summed+gradnorm"}))
    session.run(10)
    weights = session.effective_weights()
    assert sum(weights.values()) == pytest.approx(3.0, rel=1e-5)
    assert len(set(round(v, 6) for v in weights.values())) > 1  # they did move


def test_famo_shifts_weight_toward_the_head_whose_loss_drops_less():
    grad = famo_logit_gradient(tf.zeros([2]), tf.constant([1.0, 0.1]), gamma=0.0).numpy()
    np.testing.assert_allclose(grad, [0.225, -0.225], rtol=1e-6)
    logits = -0.5 * grad  # one descent step
    z = np.exp(logits) / np.exp(logits).sum()
    assert z[1] > z[0]


def test_famo_effective_weights_are_normalised(tiny):
    session = Session(tiny.with_changes(strategy={"name": "summed+famo"}))
    session.run(5)
    assert sum(session.effective_weights().values()) == pytest.approx(1.0, rel=1e-5)


def test_alternating_round_robin_moves_one_head_per_step(tiny):
    session = Session(tiny.with_changes(strategy={"name": "alternating"}))
    strategy = session.stepper.strategy("alternating")
    net = session.stepper.net
    heads = session.head_names
    for turn in range(6):
        before = {h: [v.numpy().copy() for v in net.head_variables[h]] for h in heads}
        session.run(1)
        moved = [h for h in heads if any(not np.array_equal(a, v.numpy())
                                          for a, v in zip(before[h], net.head_variables[h]))]
        assert moved == [heads[turn % 3]]
    assert iterations(strategy) == [2, 2, 2]


def test_alternating_proportional_sampling_follows_weights(tiny):
    preset = tiny.with_changes(strategy={"name": "alternating", "layout": {"sampling": "proportional",
                                                                           "alpha": 1.0}})
    session = Session(preset)
    session.set_weight("size", 0.0)
    session.set_weight("shape", 1.0)
    session.set_weight("bright", 3.0)
    strategy = session.stepper.strategy("alternating")
    np.testing.assert_allclose(strategy.layout.probabilities(strategy.weighting.current().numpy()), [0.0, 0.25, 0.75])
    picks = [strategy.next_variant() for _ in range(400)]
    assert picks.count(0) == 0
    assert 0.65 < picks.count(2) / 400 < 0.85


def test_summed_diagnostics_equal_independently_computed_gradients(tiny):
    session = Session(tiny.with_changes(training={"diagnostics_every": 1}))
    stepper = session.stepper
    x, y = next(iter(stepper.data.train))  # shuffle off: the session's first batch
    with tf.GradientTape(persistent=True) as tape:
        preds = session.model(x, training=True)
        objectives = [h.weight * stepper.ctx.loss_fns[h.name](y[h.name], preds[h.name])
                      for h in tiny.model.heads]
    G = np.stack([gradmath.flatten(tape.gradient(o, stepper.net.trunk_variables)).numpy() for o in objectives])
    reports = []
    session.subscribe(reports.append)
    session.run(1)
    diag = reports[0].diagnostics
    norms = np.linalg.norm(G, axis=1)
    np.testing.assert_allclose([diag["grad_norm"][h] for h in session.head_names], norms, rtol=1e-4)
    cos = G[0] @ G[1] / (norms[0] * norms[1])
    assert diag["cosine"]["size~shape"] == pytest.approx(cos, abs=1e-4)
    d = G.sum(axis=0)
    np.testing.assert_allclose([diag["update_share"][h] for h in session.head_names], G @ d / (d @ d), rtol=1e-3)
    assert sum(diag["update_share"].values()) == pytest.approx(1.0, abs=1e-4)


def test_grouped_diagnostics_measure_each_optimizers_step(tiny):
    session = Session(tiny.with_changes(strategy={"name": "grouped"}, training={"diagnostics_every": 2}))
    reports = []
    session.subscribe(reports.append)
    session.run(4)
    with_diag = [r for r in reports if r.diagnostics]
    assert [r.step for r in with_diag] == [2, 4]
    shares = with_diag[-1].diagnostics["update_share"]
    assert sum(shares.values()) == pytest.approx(1.0, abs=1e-4)
    row = with_diag[-1].as_row()
    assert row["grad_norm_size"] == with_diag[-1].diagnostics["grad_norm"]["size"]
    keys = session.history.diagnostics
    assert "conflict_share" in keys and "update_share/shape" in keys
