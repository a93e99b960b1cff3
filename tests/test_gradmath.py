"""Gradient surgery and diagnostics on hand-picked vectors, against independent numpy references."""

import itertools

import numpy as np
import pytest
import tensorflow as tf

from tui_mtl.strategies import gradmath


def numpy_pcgrad(G, orders):
    out = []
    for i, g in enumerate(G):
        g = g.astype(np.float64).copy()
        for j in orders[i]:
            if j == i:
                continue
            dot = g @ G[j]
            if dot < 0:
                g -= dot / (G[j] @ G[j]) * G[j]
        out.append(g)
    return np.stack(out)


def test_pcgrad_projects_conflicting_pair_in_2d():
    G = np.array([[1.0, 0.0], [-1.0, 1.0]], np.float32)
    result = gradmath.pcgrad(tf.constant(G), tf.constant([[0, 1], [0, 1]])).numpy()
    # g1' = g1 - (g1.g2)/|g2|^2 g2 = [0.5, 0.5]; g2' = g2 - (g2.g1)/|g1|^2 g1 = [0, 1]
    np.testing.assert_allclose(result, [[0.5, 0.5], [0.0, 1.0]], atol=1e-6)


def test_pcgrad_leaves_agreeing_gradients_alone():
    G = np.array([[1.0, 0.0], [1.0, 1.0]], np.float32)
    result = gradmath.pcgrad(tf.constant(G), tf.constant([[1, 0], [0, 1]])).numpy()
    np.testing.assert_allclose(result, G, atol=1e-6)


@pytest.mark.parametrize("orders", [[[1, 2, 0], [2, 0, 1], [0, 1, 2]], [[2, 1, 0], [1, 0, 2], [1, 2, 0]]])
def test_pcgrad_three_heads_in_3d_matches_the_formula(orders):
    G = np.array([[1.0, 2.0, -1.0], [-2.0, 0.5, 1.0], [0.5, -1.0, -2.0]], np.float32)
    result = gradmath.pcgrad(tf.constant(G), tf.constant(orders)).numpy()
    np.testing.assert_allclose(result, numpy_pcgrad(G, orders), rtol=1e-5, atol=1e-6)


def brute_min_norm(G, steps=200):
    best = None
    k = len(G)
    grid = np.linspace(0, 1, steps + 1)
    for combo in itertools.product(grid, repeat=k - 1):
        if sum(combo) > 1 + 1e-12:
            continue
        alpha = np.array([*combo, 1 - sum(combo)])
        norm = np.linalg.norm(alpha @ G)
        if best is None or norm < best:
            best = norm
    return best


def test_mgda_two_heads_equals_the_closed_form():
    g1, g2 = np.array([1.0, 0.0], np.float32), np.array([0.0, 1.0], np.float32)
    alpha = gradmath.min_norm_weights(tf.constant([g1, g2])).numpy()
    np.testing.assert_allclose(alpha, [0.5, 0.5], atol=1e-6)
    g1, g2 = np.array([2.0, 1.0], np.float32), np.array([-1.0, 3.0], np.float32)
    gamma = np.clip((g2 - g1) @ g2 / ((g1 - g2) @ (g1 - g2)), 0, 1)
    alpha = gradmath.min_norm_weights(tf.constant([g1, g2])).numpy()
    np.testing.assert_allclose(alpha, [gamma, 1 - gamma], atol=1e-6)
    # a gradient inside the other's cone: the min-norm point is the shorter vertex
    alpha = gradmath.min_norm_weights(tf.constant([[1.0, 0.0], [3.0, 0.0]])).numpy()
    np.testing.assert_allclose(alpha, [1.0, 0.0], atol=1e-6)


def test_frank_wolfe_for_many_heads_is_in_the_simplex_and_near_minimal():
    G = np.array([[1.0, 2.0, -1.0], [-2.0, 0.5, 1.0], [0.5, -1.0, -2.0]], np.float32)
    alpha = gradmath.frank_wolfe(gradmath.finite_gram(tf.constant(G)), iterations=200).numpy()
    assert np.all(alpha >= -1e-7) and abs(alpha.sum() - 1) < 1e-5
    norm = np.linalg.norm(alpha @ G)
    assert all(norm <= np.linalg.norm(g) + 1e-6 for g in G)
    assert norm <= brute_min_norm(G.astype(np.float64)) + 1e-2


def exact_min_norm(G) -> float:
    """|alpha^T G| at the optimum, by scipy's constrained solver in float64."""
    from scipy.optimize import minimize

    gram = G @ G.T
    k = len(G)
    result = minimize(lambda a: a @ gram @ a, np.full(k, 1.0 / k), jac=lambda a: 2 * gram @ a, method="SLSQP",
                      bounds=[(0, 1)] * k, constraints=[{"type": "eq", "fun": lambda a: a.sum() - 1}],
                      options={"ftol": 1e-14, "maxiter": 500})
    return float(np.sqrt(max(result.fun, 0.0)))


@pytest.mark.parametrize("k,seed", [(3, 0), (3, 1), (4, 2), (5, 3), (6, 4), (8, 5), (10, 6)])
def test_mgda_min_norm_is_exact_up_to_ten_heads(k, seed):
    rng = np.random.default_rng(seed)
    G = rng.normal(size=(k, 12)).astype(np.float32)
    G[0] *= 30.0  # unequal scales, as real heads have
    alpha = gradmath.min_norm_weights(tf.constant(G)).numpy()
    assert np.all(alpha >= 0) and abs(alpha.sum() - 1) < 1e-5
    norm = np.linalg.norm(alpha.astype(np.float64) @ G)
    assert norm == pytest.approx(exact_min_norm(G.astype(np.float64)), rel=1e-5, abs=1e-6)  # Frank-Wolfe: 1e-2
    G64 = G.astype(np.float64)  # the face solve in float64 too (a Gram matrix summed in double)
    np.testing.assert_allclose(gradmath.min_norm_on_faces(tf.constant(G64 @ G64.T)).numpy(), alpha, atol=1e-4)


def test_mgda_min_norm_with_dependent_gradients_and_many_heads():
    g = np.array([1.0, 2.0, -1.0], np.float32)
    G = np.stack([g, 2 * g, -g])  # collinear, and 0 is in their hull
    alpha = gradmath.min_norm_weights(tf.constant(G)).numpy()
    assert np.linalg.norm(alpha @ G) < 1e-4 and abs(alpha.sum() - 1) < 1e-5
    G = np.random.default_rng(5).normal(size=(11, 10)).astype(np.float32)  # beyond exact: Frank-Wolfe
    alpha = gradmath.min_norm_weights(tf.constant(G), iterations=400).numpy()
    assert np.linalg.norm(alpha @ G) <= exact_min_norm(G.astype(np.float64)) * 1.05 + 1e-4


def cagrad_direction(G: np.ndarray, c: float) -> np.ndarray:
    return gradmath.cagrad_coefficients(tf.constant(G), c).numpy().astype(np.float64) @ G.astype(np.float64)


def test_cagrad_with_c_zero_is_the_mean_gradient():
    G = np.array([[1.0, 2.0, -1.0], [-2.0, 0.5, 1.0]], np.float32)
    np.testing.assert_allclose(cagrad_direction(G, 0.0), G.mean(axis=0), atol=1e-7)


def test_cagrad_improves_the_worst_head_over_the_mean():
    G = np.array([[1.0, 0.2], [-0.8, 0.5]], np.float32)
    g0 = G.mean(axis=0)
    c = 0.5
    d = cagrad_direction(G, c) * (1 + c * c)  # undo the rescale
    assert np.linalg.norm(d - g0) <= c * np.linalg.norm(g0) * (1 + 1e-4)  # inside the ball
    assert min(G @ d) > min(G @ g0)  # the worst-off head gains


def reference_cagrad(G: np.ndarray, c: float) -> np.ndarray:
    """The authors' formulation, solved as they do (scipy SLSQP on the Gram matrix), in float64."""
    from scipy.optimize import minimize

    k = len(G)
    A = G @ G.T
    b = A.mean(axis=1)
    sqrt_phi = c * np.sqrt(A.mean())

    def objective(w):
        return w @ b + sqrt_phi * np.sqrt(max(w @ A @ w, 1e-30))

    best = None
    for start in [np.full(k, 1.0 / k), *np.eye(k) * 0.9 + 0.1 / k]:  # a few starts: SLSQP is local
        result = minimize(objective, start, method="SLSQP", bounds=[(0, 1)] * k,
                          constraints=[{"type": "eq", "fun": lambda w: w.sum() - 1}],
                          options={"ftol": 1e-15, "maxiter": 1000})
        if best is None or result.fun < best.fun:
            best = result
    w = best.x
    gw = w @ G
    return (G.mean(axis=0) + sqrt_phi / np.linalg.norm(gw) * gw) / (1 + c * c)


@pytest.mark.parametrize("k", [2, 3, 4, 5, 6, 8, 10])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_cagrad_is_exact_against_the_authors_formulation(k, seed):
    """The old inner solver (30 softmax descent steps) was 1-6% off; the face solve is exact."""
    rng = np.random.default_rng(100 * k + seed)
    G = rng.normal(size=(k, 16))
    G[0] *= 5.0  # unequal scales, and conflicts: random directions
    for c in (0.2, 0.5, 0.9):
        ours = cagrad_direction(G.astype(np.float32), c)
        theirs = reference_cagrad(G, c)
        assert np.linalg.norm(ours - theirs) <= 1e-5 * np.linalg.norm(theirs) + 1e-6, (k, seed, c)


def test_cagrad_with_collinear_and_many_heads_stays_finite():
    g = np.array([1.0, 2.0, -1.0], np.float32)
    for G in (np.stack([g, 2 * g, -g]), np.random.default_rng(5).normal(size=(11, 10)).astype(np.float32)):
        d = cagrad_direction(G, 0.5)
        assert np.all(np.isfinite(d))


def test_diagnostics_on_known_gradients():
    G = tf.constant([[3.0, 4.0], [0.0, -2.0]])
    diag = gradmath.diagnostics(G, direction=tf.constant([3.0, 2.0]))
    np.testing.assert_allclose(diag["grad_norm"].numpy(), [5.0, 2.0], rtol=1e-6)
    np.testing.assert_allclose(diag["cosine"].numpy()[0, 1], -0.8, rtol=1e-6)
    assert float(diag["conflict_share"]) == 1.0
    np.testing.assert_allclose(diag["update_share"].numpy(), [17 / 13, -4 / 13], rtol=1e-6)
    # shares of measured steps sum to one
    parts = tf.constant([[1.0, 0.0], [1.0, 1.0]])
    shares = gradmath.diagnostics(G, parts=parts)["update_share"].numpy()
    np.testing.assert_allclose(shares, [2 / 5, 3 / 5], rtol=1e-6)


def reference_imtl(G: np.ndarray) -> np.ndarray:
    """IMTL-G as the authors (and LibMTL) write it: on the gradients themselves, in float64."""
    unit = G / np.linalg.norm(G, axis=1, keepdims=True)
    D = G[0:1] - G[1:]
    U = unit[0:1] - unit[1:]
    rest = G[0] @ U.T @ np.linalg.inv(D @ U.T)
    return np.concatenate([[1 - rest.sum()], rest])


@pytest.mark.parametrize("k", [2, 3, 4, 6])
@pytest.mark.parametrize("seed", [0, 1])
def test_imtl_matches_the_paper_and_projects_equally_on_every_unit_gradient(k, seed):
    from tui_mtl.strategies.aggregators.imtl import imtl_weights

    rng = np.random.default_rng(10 * k + seed)
    G = rng.normal(size=(k, 20))
    G[0] *= 50.0  # one loss far larger: IMTL-G must not care
    alpha = imtl_weights(tf.constant(G @ G.T)).numpy()
    np.testing.assert_allclose(alpha, reference_imtl(G), rtol=1e-5, atol=1e-8)
    d = alpha @ G
    projections = (G / np.linalg.norm(G, axis=1, keepdims=True)) @ d
    np.testing.assert_allclose(projections, projections[0], rtol=1e-5)  # equal on every unit g_i
    assert abs(alpha.sum() - 1) < 1e-9
