"""The strategies against real references: Keras `fit`, a hand-written loop, linearity of SGD."""

import keras
import pytest
import numpy as np
import tensorflow as tf

from tests.conftest import tiny_preset
from tui_mtl.engine import Session
from tui_mtl.model import build_model
from tui_mtl.strategies.catalog import AGGREGATORS

STEPS = 12


def max_weight_diff(a: keras.Model, b: keras.Model) -> float:
    return max(float(np.max(np.abs(x - y))) for x, y in zip(a.get_weights(), b.get_weights()))


def weights_of(model: keras.Model) -> list:
    return [np.array(w) for w in model.get_weights()]


def test_summed_equals_keras_fit_with_loss_weights(tiny):
    session = Session(tiny)
    reference = keras.models.clone_model(session.model)
    reference.set_weights(session.model.get_weights())
    heads = tiny.model.heads
    reference.compile(
        optimizer=keras.optimizers.Adam(0.01),
        loss={h.name: h.loss for h in heads},
        loss_weights={h.name: h.weight for h in heads},
        jit_compile=False,
    )
    before = weights_of(session.model)
    # Shuffling is off, so the session's iterator yields exactly these batches.
    reference.fit(session.stepper.data.train.take(STEPS), epochs=1, verbose=0)
    session.run(STEPS)

    assert max_weight_diff(session.model, reference) <= 1e-5
    moved = max(float(np.max(np.abs(a - b))) for a, b in zip(before, session.model.get_weights()))
    assert moved > 1e-2  # the comparison is not vacuous: training really moved the weights


def test_summed_with_a_different_head_rate_differs_from_fit(tiny):
    """The per-head rate is real: it changes only that head's variables."""
    session = Session(tiny)
    reference = keras.models.clone_model(session.model)
    reference.set_weights(session.model.get_weights())
    heads = tiny.model.heads
    reference.compile(optimizer=keras.optimizers.Adam(0.01), loss={h.name: h.loss for h in heads},
                      loss_weights={h.name: h.weight for h in heads}, jit_compile=False)
    reference.fit(session.stepper.data.train.take(STEPS), epochs=1, verbose=0)
    session.set_lr("shape", 0.001)
    session.run(STEPS)
    ours = dict(zip([v.path for v in session.model.weights], session.model.get_weights()))
    theirs = dict(zip([v.path for v in reference.weights], reference.get_weights()))
    shape_vars = {v.path for v in session.stepper.net.head_variables["shape"]}
    for path, value in ours.items():
        diff = float(np.max(np.abs(value - theirs[path])))
        if path in shape_vars:
            assert diff > 1e-3, path
        elif path.startswith(("size", "bright")):
            # other heads see the same trunk only approximately; they still move nearly alike
            assert diff < 0.1, path


def reference_grouped(preset, initial_weights, batches, rates) -> keras.Model:
    """The TF1 `tf.group(opt1.minimize(L1), opt2.minimize(L2))` idiom, written out eagerly."""
    net = build_model(preset.model, seed=123)
    net.model.set_weights(initial_weights)
    losses = {h.name: keras.losses.get(h.loss) for h in preset.model.heads}
    weights = {h.name: h.weight for h in preset.model.heads}
    optimizers = {name: keras.optimizers.Adam(rate) for name, rate in rates.items()}
    for x, y in batches:
        with tf.GradientTape(persistent=True) as tape:
            preds = net.model(x, training=True)
            objectives = {n: weights[n] * tf.reduce_mean(losses[n](y[n], preds[n])) for n in losses}
        grads = {}
        for name in losses:
            variables = [*net.trunk_variables, *net.head_variables[name]]
            grads[name] = (tape.gradient(objectives[name], variables), variables)
        for name, (g, variables) in grads.items():
            optimizers[name].apply_gradients(zip(g, variables))
    return net.model


def test_grouped_equals_hand_written_two_optimizer_loop():
    rates = {"size": 0.02, "shape": 0.005, "bright": 0.001}
    preset = tiny_preset(strategy={"name": "grouped"})
    session = Session(preset)
    for head, rate in rates.items():
        session.set_lr(head, rate)
    initial = weights_of(session.model)
    batches = list(session.stepper.data.train.take(STEPS))
    session.run(STEPS)
    reference = reference_grouped(preset, initial, batches, rates)
    assert max_weight_diff(session.model, reference) <= 1e-5
    # and it is not what summed does from the same start
    summed = Session(preset.with_changes(strategy={"name": "summed"}))
    summed.run(STEPS)
    assert max_weight_diff(session.model, summed.model) > 1e-3


def test_sgd_with_equal_rates_makes_grouped_and_summed_identical():
    heads = tiny_preset().model.model_dump()["heads"]
    for head in heads:
        head.update(weight=1.0, learning_rate=0.05)
    preset = tiny_preset(training={"optimizer": {"name": "sgd"}, "trunk_learning_rate": 0.05},
                         model={"heads": heads})
    summed = Session(preset)
    grouped = Session(preset.with_changes(strategy={"name": "grouped"}))
    start = max_weight_diff(summed.model, grouped.model)
    summed.run(STEPS)
    grouped.run(STEPS)
    assert start == 0.0
    assert max_weight_diff(summed.model, grouped.model) <= 1e-5


def _diff_after_scaling(preset, head="size", scale=1000.0, steps=20) -> float:
    plain, scaled = Session(preset), Session(preset)
    scaled.set_loss_scale(head, scale)
    plain.run(steps)
    scaled.run(steps)
    return max_weight_diff(plain.model, scaled.model)


def test_loss_times_1000_moves_grouped_adam_only_through_epsilon():
    """Adam normalises each optimizer's gradient scale: grouped ignores x1000, summed does not.

    What remains under grouped is Adam's epsilon (it matters where |g| ~ epsilon): with a tiny
    epsilon the two trajectories agree far below one step's size (lr = 0.01).
    """
    adam = {"name": "adam", "epsilon": 1e-10}
    grouped = _diff_after_scaling(tiny_preset(strategy={"name": "grouped"}, training={"optimizer": adam}))
    summed = _diff_after_scaling(tiny_preset(strategy={"name": "summed"}, training={"optimizer": adam}))
    assert grouped < 1e-3
    assert summed > 5e-2
    # with Keras' default epsilon (1e-7) the effect is larger, and still far below summed's
    default_grouped = _diff_after_scaling(tiny_preset(strategy={"name": "grouped"}))
    default_summed = _diff_after_scaling(tiny_preset(strategy={"name": "summed"}))
    assert default_grouped < default_summed / 3


def two_heads(**changes):
    """size and bright only: PCGrad's random projection order does not matter with two heads."""
    heads = [h for h in tiny_preset().model.model_dump()["heads"] if h["name"] in ("size", "bright")]
    return tiny_preset(model={"heads": heads}, **changes)


def projected(G: np.ndarray) -> np.ndarray:
    """PCGrad (Yu et al. 2020) for two gradients, written out: each off the other when they conflict."""
    rows = []
    for i, j in ((0, 1), (1, 0)):
        g, other = G[i], G[j]
        dot = g @ other
        rows.append(g - dot / (other @ other) * other if dot < 0 else g)
    return np.stack(rows)


def reference_pcgrad_grouped(preset, initial_weights, batches, rates) -> tuple[keras.Model, int]:
    """One Adam per head over trunk + head, fed the PCGrad-projected trunk gradient (and its own head's)."""
    net = build_model(preset.model, seed=123)
    net.model.set_weights(initial_weights)
    heads = preset.model.heads
    losses = {h.name: keras.losses.get(h.loss) for h in heads}
    optimizers = {name: keras.optimizers.Adam(rate) for name, rate in rates.items()}
    trunk = list(net.trunk_variables)
    conflicts = 0
    for x, y in batches:
        with tf.GradientTape(persistent=True) as tape:
            preds = net.model(x, training=True)
            objectives = {h.name: h.weight * tf.reduce_mean(losses[h.name](y[h.name], preds[h.name])) for h in heads}
        trunk_grads = {n: tape.gradient(objectives[n], trunk) for n in losses}
        G = np.stack([np.concatenate([g.numpy().ravel() for g in trunk_grads[n]]) for n in losses])
        conflicts += int(G[0] @ G[1] < 0)
        rows = projected(G)
        for row, name in zip(rows, losses):
            parts, start = [], 0
            for v in trunk:
                size = int(np.prod(v.shape))
                parts.append(tf.constant(row[start:start + size].reshape(v.shape), tf.float32))
                start += size
            head_vars = list(net.head_variables[name])
            head_grads = tape.gradient(objectives[name], head_vars)
            optimizers[name].apply_gradients(zip([*parts, *head_grads], [*trunk, *head_vars]))
    return net.model, conflicts


def test_pcgrad_grouped_equals_a_hand_written_loop_of_per_head_adams():
    """PCGrad with the seed's grouped optimizers: expressible only since strategies compose."""
    rates = {"size": 0.02, "bright": 0.005}
    preset = two_heads(strategy={"name": "pcgrad@grouped"})
    session = Session(preset)
    for head, rate in rates.items():
        session.set_lr(head, rate)
    initial = weights_of(session.model)
    batches = list(session.stepper.data.train.take(STEPS))
    session.run(STEPS)
    reference, conflicts = reference_pcgrad_grouped(preset, initial, batches, rates)
    assert conflicts > 0  # the projection really happened on some steps
    assert max_weight_diff(session.model, reference) <= 1e-5
    plain = Session(preset.with_changes(strategy={"name": "grouped"}))
    for head, rate in rates.items():
        plain.set_lr(head, rate)
    plain.run(STEPS)
    assert max_weight_diff(session.model, plain.model) > 1e-4  # and it is not plain grouped


def sgd_equal_rates():
    preset = two_heads(training={"optimizer": {"name": "sgd"}, "trunk_learning_rate": 0.05})
    heads = preset.model.model_dump()["heads"]
    for head in heads:
        head.update(weight=1.0, learning_rate=0.05)
    return preset.with_changes(model={"heads": heads})


@pytest.mark.parametrize("aggregator", list(AGGREGATORS))
def test_with_sgd_and_equal_rates_every_grouped_aggregator_equals_its_summed_twin(aggregator):
    """The gradient is linear: K SGD steps of the rows equal one SGD step of their sum."""
    preset = sgd_equal_rates()
    summed = Session(preset.with_changes(strategy={"name": f"{aggregator}@summed"}))
    summed.run(STEPS)
    grouped = Session(preset.with_changes(strategy={"name": f"{aggregator}@grouped"}))
    grouped.run(STEPS)
    assert max_weight_diff(summed.model, grouped.model) <= 1e-5
    assert max(float(np.max(np.abs(a - b))) for a, b in zip(summed.stepper.initial_weights,
                                                            summed.model.get_weights())) > 1e-3


def simplex_min_norm(M: np.ndarray) -> np.ndarray:
    """argmin over the simplex of a^T M a, by scipy's SLSQP (an independent solver)."""
    from scipy.optimize import minimize

    k = len(M)
    M = M / np.mean(np.diag(M))
    found = minimize(lambda a: a @ M @ a, np.full(k, 1.0 / k), jac=lambda a: 2 * M @ a, method="SLSQP",
                     bounds=[(0, 1)] * k, constraints={"type": "eq", "fun": lambda a: a.sum() - 1},
                     options={"ftol": 1e-16, "maxiter": 500})
    return found.x


def reference_mgda_ub(preset, initial_weights, batches, rates, normalization) -> tuple[keras.Model, int]:
    """MGDA-UB (Sener & Koltun 2018) written out: gradients with respect to the trunk's output z,
    their min-norm point, then the trunk's gradient of sum_i K alpha_i / n_i objective_i."""
    net = build_model(preset.model, seed=123)
    net.model.set_weights(initial_weights)
    heads = preset.model.heads
    k = len(heads)
    losses = {h.name: keras.losses.get(h.loss) for h in heads}
    trunk_opt = keras.optimizers.Adam(rates["trunk"])
    head_opts = {h.name: keras.optimizers.Adam(rates[h.name]) for h in heads}
    trunk = list(net.trunk_variables)
    faces = 0
    for x, y in batches:
        with tf.GradientTape(persistent=True) as tape:
            z = net.trunk_model(x, training=True)
            preds = net.heads_model(z, training=True)
            objectives = [h.weight * tf.reduce_mean(losses[h.name](y[h.name], preds[h.name])) for h in heads]
        Z = np.stack([tape.gradient(o, z).numpy().ravel() for o in objectives]).astype(np.float64)
        n = np.linalg.norm(Z, axis=1) if normalization == "l2" else np.ones(k)
        alpha = simplex_min_norm((Z / n[:, None]) @ (Z / n[:, None]).T)
        faces += int(alpha.min() < 1e-6)  # a head left out: the solution is on a face of the simplex
        c = k * alpha / n
        # the gradient of sum_i c_i objective_i with respect to the trunk's parameters
        combined = tape.gradient(objectives, trunk, output_gradients=[tf.constant(ci, tf.float32) for ci in c])
        trunk_opt.apply_gradients(zip(combined, trunk))
        for h, o in zip(heads, objectives):
            head_vars = list(net.head_variables[h.name])
            head_opts[h.name].apply_gradients(zip(tape.gradient(o, head_vars), head_vars))
    return net.model, faces


@pytest.mark.parametrize("normalization", ["none", "l2"])
def test_mgda_ub_equals_the_paper_written_out(normalization):
    preset = tiny_preset(strategy={"name": "mgda", "aggregator": {"representation": True,
                                                                  "normalization": normalization}},
                         training={"diagnostics_every": 0})
    session = Session(preset)
    initial = weights_of(session.model)
    batches = list(session.stepper.data.train.take(STEPS))
    x = batches[0][0]
    net = session.stepper.net
    split = net.heads_model(net.trunk_model(x, training=False), training=False)
    whole = net.model(x, training=False)
    assert all(np.array_equal(split[h].numpy(), whole[h].numpy()) for h in whole)  # the split is the model
    session.run(STEPS)
    rates = session.learning_rates
    reference, faces = reference_mgda_ub(preset, initial, batches, rates, normalization)
    assert max_weight_diff(session.model, reference) <= 1e-5
    on_parameters = Session(preset.with_changes(strategy={"aggregator": {"representation": False}}))
    on_parameters.run(STEPS)
    assert max_weight_diff(session.model, on_parameters.model) > 1e-4  # it is not MGDA on the parameters
    if normalization == "none":
        assert faces > 0  # some steps left a head out (the solver's faces were exercised)


def test_mgda_ub_needs_the_summed_layout_and_says_so():
    from tui_mtl.errors import CommandError
    from tui_mtl.presets import Preset

    preset = tiny_preset(strategy={"name": "mgda", "aggregator": {"representation": True}})
    with pytest.raises(ValueError, match="representation = true .* needs the summed layout, not grouped"):
        Preset.model_validate({**preset.model_dump(), "strategy": {"name": "mgda@grouped",
                                                                    "aggregator": {"representation": True}}})
    session = Session(preset)
    with pytest.raises(CommandError, match="needs the summed layout, not grouped"):
        session.set_strategy("mgda@grouped")
    with pytest.raises(CommandError, match="needs the summed layout, not grouped"):
        session.fork(["mgda", "mgda@grouped"])
    session.set_strategy("pcgrad@grouped")  # other strategies are not affected
    assert session.run(3).state.value == "finished"
