"""The one step builder: tape, replica sum, loss scaling, the non-finite guard and diagnostics, for
every weighting x aggregator x layout.

A step has two phases, so that the same code runs on one device and under `tf.distribute`:
`compute` (once per replica: forward pass and gradients, returned as a `Plan` of tensors that is
summed across replicas) and `apply` (once, on the summed plan: aggregate, guard, move the
variables). Per-replica losses come pre-divided by the replica count, so summed plans hold global
means and global gradients.

Which gradients a step takes depends on the layout and the aggregator:
* `TOTAL`: one backward pass of sum_i objective_i (summed layout with the `sum` aggregator);
* `PER_HEAD`: each head's objective over the trunk and its head (K trunk backward passes);
* `ONE_HEAD`: only the chosen head's objective (alternating);
* `REPRESENTATION`: each head's gradient with respect to the trunk's output z only, then one trunk
  backward pass of the coefficients' combination (MGDA-UB, summed layout).
Per-head trunk gradients for diagnostics are taken only on diagnostic steps.
"""

from __future__ import annotations

from enum import Enum
from typing import Any, Callable, NamedTuple

import numpy as np
import tensorflow as tf

from tui_mtl.strategies import gradmath
from tui_mtl.strategies.base import StepContext
from tui_mtl.strategies.strategy import Strategy
from tui_mtl.strategies.traced import TracedStep


class GradientNeed(Enum):
    TOTAL = "total"
    PER_HEAD = "per_head"
    ONE_HEAD = "one_head"
    REPRESENTATION = "representation"


def gradient_need(strategy: Strategy) -> GradientNeed:
    if strategy.layout.one_head:
        return GradientNeed.ONE_HEAD
    if not strategy.layout.per_head_trunk and strategy.aggregator.representation:
        return GradientNeed.REPRESENTATION
    if not strategy.layout.per_head_trunk and strategy.aggregator.identity:
        return GradientNeed.TOTAL
    return GradientNeed.PER_HEAD


class Plan(NamedTuple):
    """A step's tensors, summed across replicas before `apply`. Unused parts are empty tuples."""

    losses: list  # [K] per-head losses (never scaled)
    total: Any = ()  # TOTAL: trunk gradients of the sum of objectives (REPRESENTATION: of sum_i c_i objective_i)
    per_head: Any = ()  # PER_HEAD: [K][trunk gradients]; ONE_HEAD: [1][trunk gradients of the head]
    heads: Any = ()  # [K][head gradients] (ONE_HEAD: [1][...])
    diagnostic: Any = ()  # TOTAL / ONE_HEAD on diagnostic steps: G [K, P]
    weighting: Any = ()  # gradients of the weighting's own parameters

    def unscaled(self, inverse) -> "Plan":
        """Every gradient times `inverse` (1 / the loss scale); the losses were never scaled."""
        scale = lambda part: tf.nest.map_structure(lambda g: g * inverse, part)  # noqa: E731
        return self._replace(total=scale(self.total), per_head=scale(self.per_head), heads=scale(self.heads),
                             diagnostic=scale(self.diagnostic), weighting=scale(self.weighting))


class StepResult(NamedTuple):
    diagnostics: dict  # empty unless a diagnostic step: grad_norm, cosine, conflict_share, update_share
    applied: tf.Tensor  # bool: every loss and gradient was finite and the step was applied
    losses: tf.Tensor  # [K]
    rescaled: tf.Tensor  # bool: skipped only because fp16 gradients overflowed (the scale was halved)
    faulty: tf.Tensor  # [K] bool, on a step not applied: head i's loss or own gradients were not finite


def objectives(ctx: StepContext, strategy: Strategy, losses: list) -> list:
    """The weighting's objectives, times the loss scale under float16 (undone on the summed plan)."""
    objectives = strategy.weighting.objectives(losses)
    scale = ctx.loss_scale
    return objectives if scale is None else scale.scale_objectives(objectives)


def compute(ctx: StepContext, strategy: Strategy, need: GradientNeed, x, y, variant: int, diagnose: bool) -> Plan:
    """Per replica: the forward pass and the gradients this strategy needs."""
    if need is GradientNeed.REPRESENTATION:
        return compute_on_representation(ctx, strategy, x, y, diagnose)
    net, weighting = ctx.net, strategy.weighting
    trunk = net.trunk_variables
    persistent = need is GradientNeed.PER_HEAD or diagnose or weighting.needs_tape
    with tf.GradientTape(persistent=persistent) as tape:
        losses = ctx.forward_losses(x, y)
        objs = objectives(ctx, strategy, losses)
        total = tf.add_n(objs) if need is GradientNeed.TOTAL else None  # on the tape
    diagnostic: Any = ()
    if need is GradientNeed.TOTAL:
        grads = tape.gradient(total, [trunk, *(net.head_variables[h] for h in ctx.head_names)])
        plan = Plan(losses, total=list(grads[0]), heads=[list(g) for g in grads[1:]])
    elif need is GradientNeed.ONE_HEAD:
        head = ctx.head_names[variant]
        grads = tape.gradient(objs[variant], [*trunk, *net.head_variables[head]])
        plan = Plan(losses, per_head=[list(grads[:len(trunk)])], heads=[list(grads[len(trunk):])])
    else:
        per_head, heads = [], []
        for head, objective in zip(ctx.head_names, objs):
            grads = tape.gradient(objective, [*trunk, *net.head_variables[head]])
            per_head.append(list(grads[:len(trunk)]))
            heads.append(list(grads[len(trunk):]))
        plan = Plan(losses, per_head=per_head, heads=heads)
    if diagnose and need is not GradientNeed.PER_HEAD:  # K extra backward passes, on these steps only
        diagnostic = tf.stack([gradmath.flatten(tape.gradient(o, trunk)) for o in objs])
    plan = plan._replace(diagnostic=diagnostic, weighting=weighting.gradients(tape, losses, objs))
    del tape
    return plan


def compute_on_representation(ctx: StepContext, strategy: Strategy, x, y, diagnose: bool) -> Plan:
    """MGDA-UB: the heads' gradients with respect to the trunk's output z [B, d] weigh the heads, and
    the trunk takes one backward pass, of the weighted sum of the z-gradients. Each replica holds a
    disjoint part of the batch, so the global Gram matrix of the z-gradients is the sum of theirs."""
    net, weighting = ctx.net, strategy.weighting
    if net.trunk_model is None or net.heads_model is None:  # the preset's check refuses this first
        raise ValueError("mgda's representation = true needs one trunk output shared by every head")
    with tf.GradientTape(persistent=True) as tape:
        z = net.trunk_model(x, training=True)
        preds = net.heads_model(z, training=True)
        losses = [ctx.loss_fns[name](y[name], preds[name]) for name in ctx.head_names]
        objs = objectives(ctx, strategy, losses)
    z_grads, heads = [], []
    for head, objective in zip(ctx.head_names, objs):
        grads = tape.gradient(objective, [z, *net.head_variables[head]])
        z_grads.append(grads[0])
        heads.append(list(grads[1:]))
    Z = tf.stack([tf.reshape(tf.cast(g, tf.float32), [-1]) for g in z_grads])  # [K, B*d]
    gram = ctx.summed(tf.matmul(Z, Z, transpose_b=True))
    if ctx.loss_scale is not None:  # the coefficients are computed on true gradients
        gram = gram / tf.square(ctx.loss_scale.scale)
    coefficients = tf.stop_gradient(strategy.aggregator.representation_coefficients(gram, ctx.summed(tf.stack(losses))))
    along = tf.tensordot(coefficients, tf.stack([tf.cast(g, tf.float32) for g in z_grads]), 1)
    total = tape.gradient(z, list(net.trunk_variables), output_gradients=tf.cast(along, z.dtype))
    diagnostic: Any = ()
    if diagnose:
        diagnostic = tf.stack([gradmath.flatten(tape.gradient(o, net.trunk_variables)) for o in objs])
    plan = Plan(losses, total=list(total), heads=heads, diagnostic=diagnostic,
                weighting=weighting.gradients(tape, losses, objs))
    del tape
    return plan


def apply(ctx: StepContext, strategy: Strategy, need: GradientNeed, x, y, plan: Plan, variant: int,
          diagnose: bool) -> tuple[dict, tf.Tensor]:
    """Once, on the summed plan: aggregate, check every value is finite, move the variables.

    A step with a non-finite loss or gradient is not applied: the last good weights survive a NaN.
    Returns (diagnostics, applied).
    """
    trunk = ctx.net.trunk_variables
    layout, aggregator, weighting = strategy.layout, strategy.aggregator, strategy.weighting
    G = contributions = None
    updates: tuple = ()
    if need in (GradientNeed.TOTAL, GradientNeed.REPRESENTATION):
        rows = [plan.total]
    elif need is GradientNeed.ONE_HEAD or aggregator.identity:
        rows = plan.per_head
    else:
        G = tf.stack([gradmath.flatten(grads) for grads in plan.per_head])
        aggregation = aggregator.aggregate(G, tf.stack(plan.losses))
        contributions, updates = aggregation.rows, aggregation.updates
        if layout.per_head_trunk:  # each optimizer gets its head's row
            rows = [gradmath.unflatten(contributions[i], trunk) for i in range(ctx.k)]
        else:  # one trunk optimizer gets the sum
            rows = [gradmath.unflatten(tf.reduce_sum(contributions, axis=0), trunk)]
    if diagnose and need is GradientNeed.PER_HEAD and G is None:
        G = tf.stack([gradmath.flatten(grads) for grads in plan.per_head])
    measure = diagnose and need is GradientNeed.PER_HEAD and layout.per_head_trunk  # grouped: each optimizer's step
    values = [*plan.losses, *(value for _, value in updates if value.dtype.is_floating)]
    finite = tf.logical_and(all_finite(values),
                            all_safe_gradients([*tf.nest.flatten(rows), *tf.nest.flatten(plan.heads), *plan.weighting]))
    fallback = tf.zeros([ctx.k, G.shape[1]]) if measure and G is not None else tf.constant(0.0)

    def applied():
        parts = layout.apply(rows, plan.heads, variant, measure)
        for variable, value in updates:
            variable.assign(value)
        weighting.apply(plan.weighting, plan.losses)
        weighting.after_step(x, y, plan.losses)
        return tf.constant(True), (parts if measure else fallback)

    is_applied, parts = tf.cond(finite, applied, lambda: (tf.constant(False), fallback))
    if not diagnose:
        return {}, is_applied
    if need in (GradientNeed.TOTAL, GradientNeed.REPRESENTATION):
        return gradmath.diagnostics(plan.diagnostic, gradmath.flatten(plan.total)), is_applied
    if need is GradientNeed.ONE_HEAD:
        return gradmath.diagnostics(plan.diagnostic, plan.diagnostic[variant]), is_applied
    if measure:
        return gradmath.diagnostics(G, parts=parts), is_applied
    direction = tf.reduce_sum(contributions if contributions is not None else G, axis=0)
    return gradmath.diagnostics(G, direction), is_applied


def finish(ctx: StepContext, strategy: Strategy, need: GradientNeed, x, y, plan: Plan, variant: int,
           diagnose: bool, accumulate: Callable) -> StepResult:
    """The rest of a step once its plan is summed (a single step's and each fused one's): undo the
    loss scale, apply, update the scale, add the losses to the session's sums."""
    loss_scale = ctx.loss_scale
    if loss_scale is not None:
        plan = plan.unscaled(1.0 / loss_scale.scale)
    diagnostics, applied = apply(ctx, strategy, need, x, y, plan, variant, diagnose)
    losses = tf.stack(plan.losses)
    rescaled = tf.constant(False) if loss_scale is None else loss_scale.update(applied, losses)
    accumulate(losses, applied)
    faulty = tf.cond(applied, lambda: tf.zeros([ctx.k], tf.bool), lambda: faulty_heads(ctx, need, plan, variant))
    return StepResult(diagnostics, applied, losses, rescaled, faulty)


def faulty_heads(ctx: StepContext, need: GradientNeed, plan: Plan, variant: int) -> tf.Tensor:
    """[K] bool: head i's loss is not finite, or its head's gradients or (where the step took it) its
    own trunk gradient are not safe to apply. Under `summed` the trunk gets one gradient of the sum,
    which names no head."""
    flags = []
    for i in range(ctx.k):
        if need is GradientNeed.ONE_HEAD:
            own = [*plan.heads[0], *plan.per_head[0]] if i == variant else []
        else:
            own = [*plan.heads[i], *(plan.per_head[i] if need is GradientNeed.PER_HEAD else [])]
        flags.append(tf.logical_not(tf.logical_and(all_finite([plan.losses[i]]), all_safe_gradients(own))))
    return tf.stack(flags)


def all_finite(tensors: list) -> tf.Tensor:
    return tf.reduce_all(tf.stack([tf.constant(True), *(tf.reduce_all(tf.math.is_finite(t)) for t in tensors)]))


SAFE_GRADIENT = float(np.sqrt(np.finfo(np.float32).max))  # ~1.8e19: beyond it, g * g overflows float32


def all_safe_gradients(gradients: list) -> tf.Tensor:
    """Every |gradient| below SAFE_GRADIENT (one comparison: NaN and inf fail it too): Adam's and
    RMSprop's second moment of a larger one overflows float32 to inf (and to NaN on the next step), so
    such a step would write NaN into the weights although every value it was given was finite."""
    return tf.reduce_all(tf.stack([tf.constant(True), *(
        tf.reduce_all(tf.abs(g) < tf.constant(SAFE_GRADIENT, g.dtype)) for g in gradients)]))


def replica_hooks(distribution, forward_losses: Callable) -> dict:
    """StepContext fields for `distribution` (None: one device): losses pre-divided by the replica
    count, a sum across replicas inside `compute`, and global losses from `apply` (cross-replica)."""
    if distribution is None:
        return {}

    def cross_replica_sum(value):
        return tf.distribute.get_replica_context().all_reduce("SUM", value)

    def global_forward(x, y):
        per_replica = distribution.run(forward_losses, args=(x, y))
        return [distribution.reduce("SUM", loss, axis=None) for loss in per_replica]

    return {"replica_scale": 1.0 / distribution.num_replicas_in_sync, "cross_replica_sum": cross_replica_sum,
            "global_forward": global_forward}


def xla(function: Callable, jit_compile: bool) -> Callable:
    """`function` compiled by XLA when asked (`training.jit_compile`), as Keras compiles its
    `one_step_on_data`: drawing the batch from the iterator stays outside, XLA cannot compile it."""
    return tf.function(function, autograph=False, jit_compile=True) if jit_compile else function


def summed_on_replicas(ctx: StepContext, strategy: Strategy, need: GradientNeed, distribution,
                       jit_compile: bool) -> Callable:
    """`(x, y, variant, diagnose) -> Plan`: `compute` on every replica's part of the batch, summed across
    replicas (one copy, in cross-replica context). `jit_compile`: XLA compiles each replica's part."""
    def replica(a, b, variant, diagnose):
        plan = compute(ctx, strategy, need, a, b, variant, diagnose)
        return tf.distribute.get_replica_context().all_reduce("SUM", plan)

    on_replica = xla(replica, jit_compile)

    def summed_plan(x, y, variant, diagnose) -> Plan:
        per_replica = distribution.run(on_replica, args=(x, y, variant, diagnose))
        return tf.nest.map_structure(lambda v: distribution.experimental_local_results(v)[0], per_replica)

    return summed_plan


def build_step(ctx: StepContext, strategy: Strategy, distribution, accumulate: Callable,
               on_trace: Callable[[], None], jit_compile: bool = False) -> Callable:
    """A `tf.function(source, variant, diagnose)` (a TracedStep) for one strategy: one trace per (variant, diagnose).

    `source` is an iterator (the batch is drawn inside the graph, as Keras `fit` does) or an (x, y)
    batch shared by a comparison's branches. `accumulate(losses, applied)` adds to the session's
    on-device loss sums; `on_trace()` counts traces (it runs only while tracing). `jit_compile`: the
    step on its batch is compiled by XLA (on each replica, the forward and backward passes).
    """
    need = gradient_need(strategy)
    summed_plan = None if distribution is None else summed_on_replicas(ctx, strategy, need, distribution, jit_compile)

    def on_batch(x, y, variant, diagnose):
        if summed_plan is None:
            plan = compute(ctx, strategy, need, x, y, variant, diagnose)
        else:
            plan = summed_plan(x, y, variant, diagnose)
        return finish(ctx, strategy, need, x, y, plan, variant, diagnose, accumulate)

    on_batch_compiled = xla(on_batch, jit_compile and distribution is None)

    def step(source, variant, diagnose):
        on_trace()
        x, y = source if isinstance(source, tuple) else next(source)
        return on_batch_compiled(x, y, variant, diagnose)

    # autograph off: components use TensorFlow ops for data-dependent choices, never Python `if`
    return TracedStep(step)


def build_fused(ctx: StepContext, strategy: Strategy, accumulate: Callable, on_trace: Callable[[], None],
                jit_compile: bool = False, distribution=None) -> Callable:
    """A `tf.function(iterator, count)` (a TracedStep) running up to `count` plain steps (no diagnostics,
    one variant) in one call, as Keras' `steps_per_execution` does: each draws its batch from
    `iterator` inside the graph, and the loop stops after the first step that was not applied.
    Returns (steps run, the last step applied, its losses, rescaled, faulty): one host read per call.
    `jit_compile`: each step on its batch is compiled by XLA (the loop and the iterator are not).
    `distribution`: each step's plan is summed over its replicas, as in `build_step`."""
    need = gradient_need(strategy)
    summed_plan = None if distribution is None else summed_on_replicas(ctx, strategy, need, distribution, jit_compile)

    def on_batch(x, y):
        plan = compute(ctx, strategy, need, x, y, 0, False) if summed_plan is None else summed_plan(x, y, 0, False)
        return finish(ctx, strategy, need, x, y, plan, 0, False, accumulate)

    on_batch_compiled = xla(on_batch, jit_compile and distribution is None)

    def fused(iterator, count):
        on_trace()

        def go_on(i, applied, _losses, _rescaled, _faulty):
            return tf.logical_and(i < count, applied)

        def body(i, _applied, _losses, _rescaled, _faulty):
            result = on_batch_compiled(*next(iterator))
            return i + 1, result.applied, result.losses, result.rescaled, result.faulty

        start = (tf.constant(0), tf.constant(True), tf.zeros([ctx.k]), tf.constant(False), tf.zeros([ctx.k], tf.bool))
        return tf.while_loop(go_on, body, start)

    return TracedStep(fused)
