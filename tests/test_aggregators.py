"""The gradient aggregators beyond PCGrad/MGDA/CAGrad/IMTL-G, each against an independent reference
(the paper's formula in numpy, or scipy solving the paper's program) and its defining property."""

import numpy as np
import pytest
import tensorflow as tf

from tests.conftest import tiny_preset
from tui_mtl.engine import Session
from tui_mtl.strategies import gradmath
from tui_mtl.strategies.aggregators.aligned import aligned_weights
from tui_mtl.strategies.aggregators.config import config_weights
from tui_mtl.strategies.aggregators.graddrop import graddrop_rows
from tui_mtl.strategies.aggregators.gradvac import gradvac_rows
from tui_mtl.strategies.aggregators.mgda import normalizers
from tui_mtl.strategies.aggregators.upgrad import upgrad_weights


def conflicting(k: int, seed: int, p: int = 20) -> np.ndarray:
    """K gradients with unequal scales (one 30x) and a conflict (head 2 against head 0)."""
    rng = np.random.default_rng(seed)
    G = rng.normal(size=(k, p))
    G[1] *= 30.0
    if k > 2:
        G[2] = -0.5 * G[0] + 0.3 * rng.normal(size=p)
    return G


# --- Nash-MTL and FairGrad: (G G^T) w = w^(-p) ----------------------------------------------


def reference_power_balance(A: np.ndarray, p: float) -> np.ndarray:
    """scipy minimising the convex 1/2 w^T A w - sum_i u(w_i) (u = log for p = 1), as the papers pose it."""
    from scipy.optimize import minimize

    k = len(A)
    utility = (lambda w: np.log(w).sum()) if p == 1 else (lambda w: (w ** (1 - p)).sum() / (1 - p))
    result = minimize(lambda w: 0.5 * w @ A @ w - utility(w), np.full(k, 1.0 / np.sqrt(np.trace(A))),
                      jac=lambda w: A @ w - w ** -p, method="L-BFGS-B", bounds=[(1e-12, None)] * k,
                      options={"ftol": 1e-18, "gtol": 1e-14, "maxiter": 10000})
    return result.x


@pytest.mark.parametrize("k", [2, 3, 5])
@pytest.mark.parametrize("p", [1.0, 0.5, 2.0])
def test_power_balance_solves_the_bargaining_condition_and_matches_scipy(k, p):
    G = conflicting(k, seed=k)
    A = G @ G.T
    w = gradmath.power_balance(tf.constant(A), p).numpy()
    assert np.all(w > 0)
    np.testing.assert_allclose(A @ w, w ** -p, rtol=1e-9)  # the condition itself
    np.testing.assert_allclose(w, reference_power_balance(A, p), rtol=1e-4)


def test_nash_gives_each_head_the_share_its_weight_bargained_for_whatever_the_scale():
    G = conflicting(3, seed=0)
    alpha = gradmath.power_balance(tf.constant(G @ G.T), 1.0).numpy()
    d = alpha @ G
    np.testing.assert_allclose(G @ d, 1.0 / alpha, rtol=1e-9)  # d . g_i = 1 / alpha_i > 0: no head loses
    # scale-free: a head's gradient 10x larger gets a weight 10x smaller, and the same d
    scaled = G * np.array([[10.0], [1.0], [1.0]])
    alpha_scaled = gradmath.power_balance(tf.constant(scaled @ scaled.T), 1.0).numpy()
    np.testing.assert_allclose(alpha_scaled @ scaled, d, rtol=1e-8)


def test_nash_update_every_reuses_the_weights_between_solves():
    session = Session(tiny_preset(strategy={"name": "nash", "aggregator": {"update_every": 3}}))
    nash = session.stepper.strategy("nash").aggregator
    G1, G2 = (tf.constant(conflicting(3, seed=s, p=6), tf.float32) for s in (1, 2))
    losses = tf.ones([3])
    first = nash.aggregate(G1, losses)
    for variable, value in first.updates:
        variable.assign(value)
    solved = gradmath.power_balance(gradmath.finite_gram(G1), 1.0).numpy()
    np.testing.assert_allclose(first.rows.numpy(), solved[:, None] * G1.numpy(), rtol=1e-5)
    second = nash.aggregate(G2, losses)  # step 1 of 3: alpha from G1, applied to G2
    np.testing.assert_allclose(second.rows.numpy(), solved[:, None] * G2.numpy(), rtol=1e-5)
    # and it is state: a session trained with it checkpoints alpha and the step count
    before = int(nash.steps.numpy())
    session.run(4)
    assert int(nash.steps.numpy()) == before + 4 and "aggregator/alpha" in "".join(session.capture().arrays)


def test_fairgrad_with_alpha_one_is_nash_and_a_larger_alpha_favours_the_worst_head():
    G = conflicting(3, seed=3)
    A = tf.constant(G @ G.T)
    nash = gradmath.power_balance(A, 1.0).numpy()
    np.testing.assert_allclose(gradmath.power_balance(A, 1.0 / 1.0).numpy(), nash)
    gains = {alpha: G @ (gradmath.power_balance(A, 1.0 / alpha).numpy() @ G) for alpha in (0.5, 1.0, 4.0)}
    spread = {alpha: gains[alpha].max() / gains[alpha].min() for alpha in gains}
    assert spread[4.0] < spread[1.0] < spread[0.5]  # fairer: the heads' improvements move closer


# --- UPGrad ----------------------------------------------------------------------------------


def reference_projection(G: np.ndarray, g: np.ndarray) -> np.ndarray:
    """argmin |x - g|^2 subject to G x >= 0, in the parameter space (scipy SLSQP)."""
    from scipy.optimize import minimize

    result = minimize(lambda x: 0.5 * np.sum((x - g) ** 2), g, jac=lambda x: x - g, method="SLSQP",
                      constraints=[{"type": "ineq", "fun": lambda x: G @ x, "jac": lambda x: G}],
                      options={"ftol": 1e-14, "maxiter": 1000})
    return result.x


@pytest.mark.parametrize("k", [2, 3, 4])
def test_upgrad_sums_the_projections_onto_the_dual_cone_and_conflicts_with_no_head(k):
    G = conflicting(k, seed=10 + k, p=8)
    w = upgrad_weights(tf.constant(G @ G.T)).numpy()
    d = w @ G
    expected = sum(reference_projection(G, g) for g in G)
    np.testing.assert_allclose(d, expected, rtol=1e-5, atol=1e-6 * np.linalg.norm(expected))
    assert np.all(G @ d >= -1e-9 * np.linalg.norm(d))  # no head's loss rises to first order
    # gradients that agree are left alone: the projection of a g_i already in the cone is itself
    agreeing = np.abs(conflicting(k, seed=1, p=8))
    np.testing.assert_allclose(upgrad_weights(tf.constant(agreeing @ agreeing.T)).numpy(), np.ones(k), rtol=1e-6)


# --- Aligned-MTL -----------------------------------------------------------------------------


def test_aligned_makes_the_gradients_orthogonal_with_the_smallest_eigenvalues_norm():
    G = conflicting(3, seed=4)
    A = G @ G.T
    values, vectors = np.linalg.eigh(A)
    B = np.sqrt(values.min()) * vectors @ np.diag(values ** -0.5) @ vectors.T  # the paper's B
    aligned = B @ G
    np.testing.assert_allclose(aligned @ aligned.T, values.min() * np.eye(3), atol=1e-8 * values.max())
    a = aligned_weights(tf.constant(A)).numpy()
    np.testing.assert_allclose(a @ G, aligned.sum(axis=0), rtol=1e-8)
    # orthogonal gradients of any norms: each becomes the same length sqrt(l_min) along itself
    orthogonal = np.diag([1.0, 5.0, 20.0]) @ np.eye(3, 6)
    a = aligned_weights(tf.constant(orthogonal @ orthogonal.T)).numpy()
    np.testing.assert_allclose(a, [1.0, 1 / 5, 1 / 20], rtol=1e-9)


def test_aligned_leaves_out_a_dependent_direction_and_stays_finite():
    g = np.array([1.0, 2.0, -1.0])
    G = np.stack([g, 2 * g, np.array([0.0, 1.0, 3.0])])  # rank 2
    a = aligned_weights(tf.constant(G @ G.T)).numpy()
    assert np.all(np.isfinite(a)) and np.linalg.norm(a @ G) > 0


# --- ConFIG ----------------------------------------------------------------------------------


def reference_config(G: np.ndarray) -> np.ndarray:
    """The paper's update: u = unit(pinv(U^T)^T 1) with U the unit gradients, d = (sum_i g_i . u) u."""
    unit = G / np.linalg.norm(G, axis=1, keepdims=True)
    x = np.linalg.pinv(unit) @ np.ones(len(G))
    u = x / np.linalg.norm(x)
    return (G @ u).sum() * u


@pytest.mark.parametrize("k", [2, 3, 5])
def test_config_matches_the_paper_and_makes_equal_angles_with_every_gradient(k):
    G = conflicting(k, seed=20 + k)
    c = config_weights(tf.constant(G @ G.T)).numpy()
    d = c @ G
    np.testing.assert_allclose(d, reference_config(G), rtol=1e-7)
    cosines = (G @ d) / np.linalg.norm(G, axis=1) / np.linalg.norm(d)
    np.testing.assert_allclose(cosines, cosines[0], rtol=1e-8)
    assert cosines[0] > 0


# --- GradDrop --------------------------------------------------------------------------------


def test_graddrop_keeps_one_sign_per_coordinate_by_the_purity_rule():
    rng = np.random.default_rng(5)
    G = rng.normal(size=(3, 200)).astype(np.float32)
    U = rng.uniform(size=200).astype(np.float32)
    rows = graddrop_rows(tf.constant(G), tf.constant(U)).numpy()
    purity = 0.5 * (1 + G.sum(0) / np.abs(G).sum(0))
    keep = ((purity > U) & (G > 0)) | ((purity < U) & (G < 0))
    np.testing.assert_array_equal(rows, np.where(keep, G, 0.0))
    for column in rows.T:  # one sign survives in each coordinate
        assert np.all(column >= 0) or np.all(column <= 0)
    # gradients that agree everywhere (purity 1 or 0) pass unchanged
    same = np.abs(G)
    np.testing.assert_array_equal(graddrop_rows(tf.constant(same), tf.constant(U)).numpy(), same)


# --- Gradient Vaccine ------------------------------------------------------------------------


def reference_gradvac(G: np.ndarray, targets: np.ndarray, orders: np.ndarray, beta: float):
    """Algorithm 1 of Wang et al. 2021, in numpy."""
    k = len(G)
    targets = targets.copy()
    rows = []
    for i in range(k):
        g = G[i].copy()
        for j in orders[i]:
            if j == i:
                continue
            cos = g @ G[j] / (np.linalg.norm(g) * np.linalg.norm(G[j]))
            phi = targets[i, j]
            if cos < phi:
                g = g + np.linalg.norm(g) * (phi * np.sqrt(1 - cos ** 2) - cos * np.sqrt(1 - phi ** 2)) / (
                    np.linalg.norm(G[j]) * np.sqrt(1 - phi ** 2)) * G[j]
            targets[i, j] = (1 - beta) * phi + beta * cos
        rows.append(g)
    return np.stack(rows), targets


def test_gradvac_matches_the_algorithm_and_lifts_a_cosine_to_its_target():
    G = conflicting(3, seed=6, p=10)
    targets = np.array([[0.0, 0.3, 0.1], [0.2, 0.0, -0.1], [0.05, 0.4, 0.0]])
    orders = np.array([[2, 0, 1], [0, 2, 1], [1, 2, 0]])
    rows, new = gradvac_rows(tf.constant(G), tf.constant(targets), tf.constant(orders), 0.1)
    expected_rows, expected_targets = reference_gradvac(G, targets, orders, 0.1)
    np.testing.assert_allclose(rows.numpy(), expected_rows, rtol=1e-7)
    np.testing.assert_allclose(new.numpy(), expected_targets, rtol=1e-7)
    # two heads: the lifted gradient makes exactly the target's cosine with the other
    pair = np.array([[1.0, 0.0], [-0.6, 0.8]])  # cosine -0.6
    rows, _ = gradvac_rows(tf.constant(pair), tf.constant([[0.0, 0.25], [0.25, 0.0]], tf.float64),
                           tf.constant([[1, 0], [0, 1]]), 0.1)
    lifted = rows.numpy()[0]
    np.testing.assert_allclose(lifted @ pair[1] / np.linalg.norm(lifted), 0.25, rtol=1e-9)


# --- DB-MTL's gradient half ------------------------------------------------------------------


def test_dbmtl_buffers_follow_the_schedule_and_rows_share_the_largest_norm():
    session = Session(tiny_preset(strategy={"name": "dbmtl", "aggregator": {"beta": 0.9, "sigma": 0.5}}))
    dbmtl = session.stepper.strategy("dbmtl").aggregator
    size = int(dbmtl.buffers.shape[1])
    rng = np.random.default_rng(7)
    buffers = np.zeros((3, size))
    for t in (1, 2, 3):
        G = rng.normal(size=(3, size)) * np.array([[1.0], [10.0], [0.1]])
        result = dbmtl.aggregate(tf.constant(G, tf.float32), tf.ones([3]))
        for variable, value in result.updates:
            variable.assign(value)
        buffers = G + 0.9 / t ** 0.5 * (buffers - G)
        norms = np.linalg.norm(buffers, axis=1)
        np.testing.assert_allclose(result.rows.numpy(), (norms.max() / norms)[:, None] * buffers, rtol=1e-4,
                                   atol=1e-5 * np.abs(buffers).max())
        np.testing.assert_allclose(np.linalg.norm(result.rows.numpy(), axis=1), norms.max(), rtol=1e-4)


# --- MGDA's normalisations -------------------------------------------------------------------


def test_mgda_l2_normalisation_is_blind_to_a_gradients_scale_and_loss_divides_by_the_loss():
    G = conflicting(3, seed=8).astype(np.float32)  # float32, as in a step
    losses = np.array([2.0, 0.5, 4.0], np.float32)
    norms = tf.norm(tf.constant(G), axis=1)
    np.testing.assert_allclose(normalizers(norms, tf.constant(losses), "l2").numpy(),
                               np.linalg.norm(G, axis=1), rtol=1e-6)
    np.testing.assert_allclose(normalizers(norms, tf.constant(losses), "loss+").numpy(),
                               losses * np.linalg.norm(G, axis=1), rtol=1e-6)
    session = Session(tiny_preset(strategy={"name": "mgda", "aggregator": {"normalization": "l2"}}))
    mgda = session.stepper.strategy("mgda").aggregator
    rows = mgda.aggregate(tf.constant(G), tf.constant(losses)).rows.numpy()
    scaled = G * np.array([[100.0], [1.0], [1.0]], np.float32)
    rows_scaled = mgda.aggregate(tf.constant(scaled), tf.constant(losses)).rows.numpy()
    np.testing.assert_allclose(rows_scaled.sum(0), rows.sum(0), rtol=1e-4, atol=1e-6)  # the same direction
    unit = G / np.linalg.norm(G, axis=1, keepdims=True)
    alpha = gradmath.min_norm_weights(tf.constant(unit)).numpy()
    np.testing.assert_allclose(rows, 3 * alpha[:, None] * unit, rtol=1e-4, atol=1e-6)
