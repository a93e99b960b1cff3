"""Gradient math on flattened per-head trunk gradients G [K, P]: pure TensorFlow, no state.

Kept apart from the rules so each formula can be checked on hand-picked vectors.
"""

from __future__ import annotations

import math

import tensorflow as tf

EPS = 1e-12


def flatten(grads) -> tf.Tensor:
    return tf.concat([tf.reshape(g, [-1]) for g in grads], axis=0)


def unflatten(vector: tf.Tensor, like) -> list:
    shapes = [tuple(v.shape) for v in like]
    parts = tf.split(vector, [math.prod(shape) for shape in shapes])
    return [tf.reshape(p, shape) for p, shape in zip(parts, shapes)]


def pcgrad(G: tf.Tensor, orders: tf.Tensor) -> tf.Tensor:
    """PCGrad (Yu et al. 2020): each g_i is projected off every g_j it conflicts with, in the
    order orders[i] (a permutation of 0..K-1; j == i is skipped). Returns the projected rows [K, P]
    (their sum is PCGrad's direction).
    """
    k = G.shape[0]
    projected = []
    for i in range(k):
        g = G[i]
        for position in range(k):
            j = orders[i, position]
            other = tf.gather(G, j)
            dot = tf.reduce_sum(g * other)
            conflict = tf.logical_and(dot < 0.0, tf.not_equal(j, i))
            correction = dot / (tf.reduce_sum(other * other) + EPS) * other
            g = tf.where(conflict, g - correction, g)
        projected.append(g)
    return tf.stack(projected)


def random_orders(k: int, stream: tf.random.Generator) -> tf.Tensor:
    """[k, k]: row i a uniformly random permutation of 0..k-1 (head i's order of the others)."""
    return tf.argsort(stream.uniform([k, k]), axis=1, stable=True)


def min_norm_two(g1: tf.Tensor, g2: tf.Tensor) -> tf.Tensor:
    """Closed form (Sener & Koltun 2018): gamma in [0, 1] minimising |gamma*g1 + (1-gamma)*g2|."""
    diff = g1 - g2
    distance = tf.reduce_sum(diff * diff)
    gamma = tf.reduce_sum((g2 - g1) * g2) / tf.maximum(distance, EPS)
    return tf.where(distance > EPS, tf.clip_by_value(gamma, 0.0, 1.0), 0.5)


# up to here mgda's min-norm point and cagrad's inner problem are solved exactly over the simplex's
# 2^K - 1 faces (one batched solve: ~1 ms at K = 8, ~3 ms at K = 10 on a 2-core CPU; 4x per 2 heads beyond)
MAX_EXACT_HEADS = 10


def min_norm_weights(G: tf.Tensor, iterations: int = 50) -> tf.Tensor:
    """Weights alpha on the simplex minimising |alpha^T G|: closed form for K=2, exact over the
    simplex's faces up to MAX_EXACT_HEADS, Frank-Wolfe (`iterations` steps) beyond."""
    k = G.shape[0]
    if k == 1:
        return tf.ones([1], G.dtype)
    if k == 2:
        gamma = min_norm_two(G[0], G[1])
        return tf.stack([gamma, 1.0 - gamma])
    return min_norm_from_gram(finite_gram(G), iterations)


def min_norm_from_gram(gram: tf.Tensor, iterations: int = 50) -> tf.Tensor:
    """`min_norm_weights` from the Gram matrix G G^T alone (MGDA-UB has no G to hand: it sums the
    Gram matrices of each replica's gradients with respect to its part of the batch)."""
    k = gram.shape[0]
    gram = tf.where(tf.math.is_finite(gram), gram, tf.zeros_like(gram))
    if k == 1:
        return tf.ones([1], gram.dtype)
    if k == 2:  # |gamma g1 + (1 - gamma) g2|^2 is a parabola in gamma
        distance = gram[0, 0] - 2.0 * gram[0, 1] + gram[1, 1]
        gamma = (gram[1, 1] - gram[0, 1]) / tf.maximum(distance, EPS)
        gamma = tf.where(distance > EPS, tf.clip_by_value(gamma, 0.0, 1.0), 0.5)
        return tf.stack([gamma, 1.0 - gamma])
    if k <= MAX_EXACT_HEADS:
        return min_norm_on_faces(gram)
    return frank_wolfe(gram, iterations)


def min_norm_on_faces(gram: tf.Tensor) -> tf.Tensor:
    """The exact min-norm point: it is the minimiser over the affine hull of some face of the simplex
    with every weight >= 0, so solve the KKT system of every face at once (one batched solve of
    (K+1)x(K+1) systems, weights outside the face pinned to 0) and keep the best feasible one.
    A few dozen ops, where Frank-Wolfe's unrolled loop traced thousands."""
    k = gram.shape[0]
    faces = tf.constant([[float((mask >> i) & 1) for i in range(k)] for mask in range(1, 2 ** k)], gram.dtype)
    scale = tf.maximum(tf.reduce_mean(tf.linalg.diag_part(gram)), EPS)
    m = gram / scale + 1e-6 * tf.eye(k, dtype=gram.dtype)  # unit-free; the ridge makes dependent gradients solvable
    inside = faces[:, :, None] * faces[:, None, :]
    outside = tf.linalg.diag(1.0 - faces)
    top = tf.concat([inside * m + outside, faces[:, :, None]], axis=2)  # [F, K, K+1]
    bottom = tf.concat([faces, tf.zeros([faces.shape[0], 1], gram.dtype)], axis=1)[:, None, :]  # sum of face weights
    systems = tf.concat([top, bottom], axis=1)  # [F, K+1, K+1]
    rhs = tf.concat([tf.zeros([faces.shape[0], k], gram.dtype), tf.ones([faces.shape[0], 1], gram.dtype)], axis=1)
    alphas = tf.linalg.solve(systems, rhs[:, :, None])[:, :k, 0] * faces
    norms = tf.einsum("fi,ij,fj->f", alphas, m, alphas)
    feasible = tf.reduce_all(alphas >= -1e-6, axis=1)
    best = tf.argmin(tf.where(feasible, norms, tf.fill(tf.shape(norms), tf.constant(float("inf"), gram.dtype))))
    alpha = tf.maximum(tf.gather(alphas, best), 0.0)
    return alpha / tf.reduce_sum(alpha)


def frank_wolfe(gram: tf.Tensor, iterations: int) -> tf.Tensor:
    """Approximate min-norm weights from the Gram matrix (for many heads, where faces are too many)."""
    k, dtype = gram.shape[0], gram.dtype
    alpha = tf.fill([k], 1.0 / k)
    for _ in range(iterations):
        # the vertex that most decreases the quadratic, then an exact line search towards it
        t = tf.argmin(tf.linalg.matvec(gram, alpha))
        vertex = tf.one_hot(t, k, dtype=dtype)
        v1v1 = tf.tensordot(alpha, tf.linalg.matvec(gram, alpha), 1)
        v1v2 = tf.tensordot(alpha, gram[t], 1)
        v2v2 = gram[t, t]
        curvature = v1v1 - 2.0 * v1v2 + v2v2  # |current - vertex|^2: zero when already there
        step = tf.where(curvature > EPS, tf.clip_by_value((v1v1 - v1v2) / tf.maximum(curvature, EPS), 0.0, 1.0), 0.0)
        alpha = (1.0 - step) * alpha + step * vertex
    return alpha


def cagrad_coefficients(G: tf.Tensor, c: float, iterations: int = 30) -> tf.Tensor:
    """CAGrad (Liu et al. 2021): coefficients a [K] with d = sum_i a_i g_i = (g0 + sqrt(phi)/|g_w| g_w) / (1+c^2).

    g0 is the mean gradient, phi = c^2 |g0|^2, and w on the simplex minimises
    F(w) = g_w . g0 + sqrt(phi) |g_w| (the authors' inner problem, which they solve with SLSQP).
    Exact up to MAX_EXACT_HEADS (`cagrad_weights_on_faces`), softmax-parametrised descent beyond.
    With c = 0 this is the mean gradient (every a_i = 1/K).
    """
    k = G.shape[0]
    mean = tf.fill([k], 1.0 / k)
    if c == 0 or k == 1:
        return mean
    gram = finite_gram(G)
    if k <= MAX_EXACT_HEADS:
        w = cagrad_weights_on_faces(gram, c)
    else:
        w = _cagrad_descent(gram, c, iterations)
    phi = c * c * tf.reduce_mean(gram)  # c^2 |g0|^2, since |g0|^2 = 1^T A 1 / K^2
    gw_norm = tf.sqrt(tf.maximum(tf.tensordot(w, tf.linalg.matvec(gram, w), 1), 0.0) + EPS)
    lam = tf.sqrt(phi + EPS) / gw_norm
    return (mean + lam * w) / (1.0 + c * c)


def cagrad_weights_on_faces(gram: tf.Tensor, c: float) -> tf.Tensor:
    """The exact minimiser of F(w) = w.b + sqrt(phi) sqrt(w^T A w) on the simplex (A = G G^T, b = A 1/K).

    On a face S with r = |G^T w| > 0, stationarity reads A_S w = (mu 1 - b_S) r / sqrt(phi). With
    u = A_S^-1 1, v = A_S^-1 b_S and w_S = t (mu u - v): 1^T w = 1 gives t = 1 / (mu 1^T u - 1^T v), and
    w^T A w = phi t^2 gives mu^2 1^T u - 2 mu 1^T v + b^T v = phi, a quadratic whose larger root keeps
    t > 0. So every face has a closed form (one batched pair of K x K solves, in float64); F is convex,
    and its minimiser is the feasible face point with the least F.
    """
    k = gram.shape[0]
    a = tf.cast(gram, tf.float64)
    scale = tf.maximum(tf.reduce_mean(tf.linalg.diag_part(a)), 1e-300)
    a = a / scale + 1e-9 * tf.eye(k, dtype=tf.float64)  # unit-free; the ridge makes dependent gradients solvable
    b = tf.reduce_mean(a, axis=1)
    phi = (c * c) * tf.reduce_mean(a)
    faces = tf.constant([[float((mask >> i) & 1) for i in range(k)] for mask in range(1, 2 ** k)], tf.float64)
    systems = faces[:, :, None] * faces[:, None, :] * a + tf.linalg.diag(1.0 - faces)  # identity off the face
    rhs = tf.stack([faces, faces * b], axis=2)  # [F, K, 2]: 1_S and b_S
    solved = tf.linalg.solve(systems, rhs) * faces[:, :, None]
    u, v = solved[..., 0], solved[..., 1]
    alpha, beta = tf.reduce_sum(u, axis=1), tf.reduce_sum(v, axis=1)
    gamma = tf.reduce_sum(v * b, axis=1)
    disc = beta * beta - alpha * (gamma - phi)
    mu = (beta + tf.sqrt(tf.maximum(disc, 0.0))) / alpha
    t = 1.0 / (mu * alpha - beta)
    w = t[:, None] * (mu[:, None] * u - v)
    objective = tf.linalg.matvec(w, b) + tf.sqrt(phi) * tf.sqrt(tf.maximum(tf.einsum("fi,ij,fj->f", w, a, w), 0.0))
    feasible = (disc > 0) & (t > 0) & tf.reduce_all(w >= -1e-9, axis=1) & tf.reduce_all(tf.math.is_finite(w), axis=1)
    best = tf.argmin(tf.where(feasible, objective, tf.fill(tf.shape(objective), tf.constant(float("inf"), tf.float64))))
    w = tf.maximum(tf.gather(w, best), 0.0)
    w = tf.where(tf.reduce_any(feasible), w / tf.reduce_sum(w), tf.fill([k], tf.constant(1.0 / k, tf.float64)))
    return tf.cast(w, gram.dtype)


def _cagrad_descent(gram: tf.Tensor, c: float, iterations: int) -> tf.Tensor:
    """Beyond MAX_EXACT_HEADS: softmax-parametrised descent on F (approximate: it cannot reach a face)."""
    k = gram.shape[0]
    b = tf.reduce_mean(gram, axis=1)
    sqrt_phi = tf.sqrt(c * c * tf.reduce_mean(b) + EPS)
    logits = tf.zeros([k], gram.dtype)
    scale = tf.reduce_mean(tf.linalg.diag_part(gram)) + EPS  # makes the step size unit-free
    for _ in range(iterations):
        with tf.GradientTape() as tape:
            tape.watch(logits)
            w = tf.nn.softmax(logits)
            gw_norm = tf.sqrt(tf.tensordot(w, tf.linalg.matvec(gram, w), 1) + EPS)
            objective = (tf.tensordot(w, b, 1) + sqrt_phi * gw_norm) / scale
        logits = logits - 5.0 * tape.gradient(objective, logits)
    return tf.nn.softmax(logits)


def finite_gram(G: tf.Tensor) -> tf.Tensor:
    """G G^T with non-finite entries zeroed: a step whose gradients blew up is refused by the step's
    guard anyway, and the solvers (a batched linear solve) must not fail before it can."""
    gram = tf.matmul(G, G, transpose_b=True)
    return tf.where(tf.math.is_finite(gram), gram, tf.zeros_like(gram))


def diagnostics(G: tf.Tensor, direction: tf.Tensor | None = None, parts: tf.Tensor | None = None) -> dict:
    """Per-head trunk gradient norms, pairwise cosines, conflict share and share of the trunk step.

    The share is each head's projection on the trunk's step over the step's squared norm: from
    `parts` (each optimizer's actual step, e.g. under grouped) or else from G against `direction`
    (the gradient handed to the single trunk optimizer). Shares sum to 1 when the step is their sum.
    """
    k = G.shape[0]
    norms = tf.norm(G, axis=1)
    gram = tf.matmul(G, G, transpose_b=True)
    cosine = gram / (norms[:, None] * norms[None, :] + EPS)
    upper = tf.linalg.band_part(tf.ones([k, k]), 0, -1) - tf.eye(k)
    pairs = tf.reduce_sum(upper)
    conflicts = tf.reduce_sum(upper * tf.cast(cosine < 0.0, tf.float32))
    conflict_share = conflicts / tf.maximum(pairs, 1.0)
    if parts is None:
        assert direction is not None, "give the direction, or the measured parts"
        parts, step = G, direction
    else:
        step = tf.reduce_sum(parts, axis=0)
    share = tf.linalg.matvec(parts, step) / (tf.reduce_sum(step * step) + EPS)
    return {"grad_norm": norms, "cosine": cosine, "conflict_share": conflict_share, "update_share": share}


def _unit_free(gram: tf.Tensor, ridge: float = 1e-9) -> tuple[tf.Tensor, tf.Tensor]:
    """(A / s + ridge I, s) in float64, s the mean of the diagonal: solvers work on unit-free numbers."""
    k = gram.shape[0]
    a = tf.cast(gram, tf.float64)
    scale = tf.maximum(tf.reduce_mean(tf.linalg.diag_part(a)), 1e-300)
    return a / scale + ridge * tf.eye(k, dtype=tf.float64), scale


def power_balance(gram: tf.Tensor, p: float, iterations: int = 40) -> tf.Tensor:
    """w > 0 with (G G^T) w = w^(-p) elementwise: Nash-MTL's bargaining solution (p = 1) and FairGrad's
    alpha-fair one (p = 1 / alpha).

    It is the minimiser of the strictly convex 1/2 w^T A w - sum_i w_i^(1-p) / (1-p) (log w_i when
    p = 1), found by Newton's method on A w - w^-p = 0 with the step shortened to keep w > 0 (a few
    iterations: the convergence is quadratic). Solved unit-free: with A = s A', w = s^(-1/(1+p)) w'.
    """
    k = gram.shape[0]
    a, scale = _unit_free(gram, ridge=0.0)  # the Jacobian A + p diag(w^(-p-1)) is positive definite anyway
    w = tf.pow(tf.linalg.diag_part(a), -1.0 / (1.0 + p))  # the answer for a diagonal A

    def body(i, w):
        residual = tf.linalg.matvec(a, w) - tf.pow(w, -p)
        jacobian = a + tf.linalg.diag(p * tf.pow(w, -p - 1.0))
        delta = tf.linalg.solve(jacobian, residual[:, None])[:, 0]
        # the longest step <= 1 that keeps every w_i > 0 (at least 10% of it left)
        room = tf.where(delta > 0, 0.9 * w / tf.maximum(delta, 1e-300), tf.fill([k], tf.constant(2.0, tf.float64)))
        return i + 1, w - tf.minimum(tf.constant(1.0, tf.float64), tf.reduce_min(room)) * delta

    _, w = tf.while_loop(lambda i, w: i < iterations, body, (tf.constant(0), w))
    w = w * tf.pow(scale, -1.0 / (1.0 + p))
    ok = tf.reduce_all(tf.math.is_finite(w)) & tf.reduce_all(w > 0)
    return tf.cast(tf.where(ok, w, tf.fill([k], tf.constant(1.0 / k, tf.float64))), gram.dtype)


def box_qp_on_faces(a: tf.Tensor, lower: tf.Tensor) -> tf.Tensor:
    """For each row u of `lower` [T, K]: the minimiser of v^T A v subject to v >= u (A [K, K] PSD), exact.

    The minimiser is, on some set S of coordinates left free (the others at their bound), the
    solution of A_SS v_S = -A_SF u_F; every S is solved at once (2^K batched solves per row) and the
    feasible candidate of least value kept, as for the min-norm point. UPGrad projects each g_i onto
    the dual cone {x : G x >= 0} this way (Quinton & Rey 2024).
    """
    k = a.shape[0]
    free = tf.constant([[float((mask >> i) & 1) for i in range(k)] for mask in range(2 ** k)], a.dtype)  # [F, K]
    systems = free[:, :, None] * free[:, None, :] * a + tf.linalg.diag(1.0 - free)  # [F, K, K]
    fixed = lower[:, None, :] * (1.0 - free[None, :, :])  # [T, F, K]: u on the bound coordinates, 0 elsewhere
    rhs = -tf.einsum("ij,tfj->tfi", a, fixed) * free[None, :, :]  # -A_SF u_F on the free rows
    rhs = rhs + fixed  # identity rows of the bound coordinates give v_F = u_F
    v = tf.linalg.solve(tf.broadcast_to(systems, [lower.shape[0], *systems.shape]), rhs[..., None])[..., 0]
    value = tf.einsum("tfi,ij,tfj->tf", v, a, v)
    feasible = tf.reduce_all(v >= lower[:, None, :] - 1e-9, axis=2) & tf.reduce_all(tf.math.is_finite(v), axis=2)
    best = tf.argmin(tf.where(feasible, value, tf.fill(tf.shape(value), tf.constant(float("inf"), a.dtype))), axis=1)
    return tf.gather(v, best, axis=1, batch_dims=1)
