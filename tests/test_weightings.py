"""The loss weightings beyond fixed/uncertainty/DWA/GradNorm/FAMO/RLW: each head's objectives have the
gradient of the paper's scalarisation, and their state follows the paper's schedule."""

import numpy as np
import pytest
import tensorflow as tf

from tests.conftest import tiny_preset
from tui_mtl.engine import Session


def weighting_of(name: str, **params):
    strategy = {"name": name, "weighting": params} if params else {"name": name}
    session = Session(tiny_preset(strategy=strategy))
    return session, session.stepper.strategy(name).weighting


def losses_of(x: tf.Variable) -> list:
    """Three losses of very different scales, each depending on one coordinate of x."""
    return [(x[0] - 1.0) ** 2 + 0.5, 100.0 * (x[1] + 2.0) ** 2 + 1.0, tf.exp(x[2])]


def gradient(fn, x: tf.Variable) -> np.ndarray:
    with tf.GradientTape() as tape:
        value = fn()
    return tape.gradient(value, x).numpy()


@pytest.fixture
def x():
    return tf.Variable([0.3, -1.5, 0.4])


def test_log_has_the_gradient_of_the_weighted_log_losses(x):
    session, log = weighting_of("summed+log")
    for head, weight in {"size": 2.0, "shape": 0.5, "bright": 1.0}.items():  # the user's w_i still count
        session.set_weight(head, weight)
    w = np.array([2.0, 0.5, 1.0])
    ours = gradient(lambda: tf.add_n(log.objectives(losses_of(x))), x)
    paper = gradient(lambda: tf.add_n([w[i] * tf.math.log(L) for i, L in enumerate(losses_of(x))]), x)
    np.testing.assert_allclose(ours, paper, rtol=1e-5)
    log.apply([], losses_of(x))
    L = np.array([float(v) for v in losses_of(x)])
    np.testing.assert_allclose(log.current().numpy(), w / L, rtol=1e-5)


def test_gls_has_the_gradient_of_the_geometric_mean(x):
    _, gls = weighting_of("summed+gls")
    ours = gradient(lambda: tf.add_n(gls.objectives(losses_of(x))), x)
    paper = gradient(lambda: tf.pow(tf.reduce_prod(tf.stack(losses_of(x))), 1.0 / 3.0), x)
    np.testing.assert_allclose(ours, paper, rtol=1e-5)
    gls.apply([], losses_of(x))
    L = np.array([float(v) for v in losses_of(x)])
    np.testing.assert_allclose(gls.current().numpy(), np.prod(L) ** (1 / 3) / (3 * L), rtol=1e-5)


def test_imtl_l_objective_and_its_scales_optimum(x):
    _, imtl = weighting_of("summed+imtl_l")
    s = np.array([0.5, -1.0, 0.2], np.float32)
    imtl.log_scales.assign(s)
    L = np.array([float(v) for v in losses_of(x)])
    with tf.GradientTape() as tape:
        objectives = imtl.objectives(losses_of(x))
        total = tf.add_n(objectives)
    np.testing.assert_allclose([float(o) for o in objectives], np.exp(s) * L - s, rtol=1e-5)
    np.testing.assert_allclose(tape.gradient(total, imtl.log_scales).numpy(), np.exp(s) * L - 1, rtol=1e-5)
    np.testing.assert_allclose(imtl.current().numpy(), np.exp(s), rtol=1e-6)
    # the s_i's optimum is exp(s_i) L_i = 1: every scaled loss the same, whatever its units
    imtl.log_scales.assign(-np.log(L).astype(np.float32))
    with tf.GradientTape() as tape:
        total = tf.add_n(imtl.objectives(losses_of(x)))
    np.testing.assert_allclose(tape.gradient(total, imtl.log_scales).numpy(), 0.0, atol=1e-5)


def test_stch_warms_up_on_log_losses_measures_the_nadir_then_descends_the_smooth_max(x):
    session, stch = weighting_of("summed+stch", warmup=2, window=3, mu=0.5)
    preference = np.array([1.0, 2.0, 0.5], np.float32)  # the user's w_i: used once the nadir is measured
    for head, weight in zip(("size", "shape", "bright"), preference):
        session.set_weight(head, float(weight))
    seen = [[4.0, 2.0, 1.0], [3.0, 2.0, 1.0],  # warm-up: not averaged
            [2.0, 1.0, 1.0], [1.0, 2.0, 2.0], [3.0, 3.0, 0.5]]  # the window: nadir = their mean
    for losses in seen:
        before = gradient(lambda: tf.add_n(stch.objectives(losses_of(x))), x)
        log_losses = gradient(lambda: tf.add_n([tf.math.log(L) for L in losses_of(x)]), x)
        np.testing.assert_allclose(before, log_losses, rtol=1e-5)
        stch.after_step(None, None, [tf.constant(v) for v in losses])
    nadir = np.mean(seen[2:], axis=0)
    np.testing.assert_allclose(stch.nadir.numpy(), nadir, rtol=1e-6)

    def smooth_max():
        ratios = tf.math.log(tf.stack(losses_of(x)) / nadir.astype(np.float32))
        return 3 * 0.5 * tf.reduce_logsumexp(preference * ratios / 0.5)

    ours = gradient(lambda: tf.add_n(stch.objectives(losses_of(x))), x)
    np.testing.assert_allclose(ours, gradient(smooth_max, x), rtol=1e-5)


def test_new_weightings_train_their_session_and_report_effective_weights():
    session = Session(tiny_preset())
    for name in ("summed+log", "summed+gls", "summed+imtl_l", "summed+stch"):
        session.set_strategy(name)
        before = [w.copy() for w in session.model.get_weights()]
        report = session.run(3)
        assert all(np.isfinite(v) for v in report.train_loss.values()), name
        assert any(not np.array_equal(a, b) for a, b in zip(before, session.model.get_weights())), name
        assert set(report.effective_weights) == {"size", "shape", "bright"}, name
        assert all(np.isfinite(v) and v > 0 for v in report.effective_weights.values()), name
