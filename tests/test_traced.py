"""TracedStep gives back its gradient-registry entries when it goes, even when another one is
collected in the middle of its trace (a garbage collection can run there)."""

import gc

import tensorflow as tf
from tensorflow.python.framework import ops

from tui_mtl.strategies.traced import TracedStep


def traced(during=lambda: None) -> TracedStep:
    @tf.custom_gradient
    def same(x):  # in a graph, registers a gradient function under a new name
        return tf.identity(x), lambda dy: dy

    def step(x):
        during()
        return same(x)

    return TracedStep(step)


def test_entries_go_with_their_step_even_if_another_is_collected_mid_trace():
    registry = ops._gradient_registry._registry
    gc.collect()
    start = len(registry)
    first = [traced()]
    first[0](tf.constant(1.0))
    assert len(registry) == start + 1

    def drop_first():  # the first step's finalizer runs while the second traces
        first.clear()
        gc.collect()

    second = traced(drop_first)
    second(tf.constant(2.0))
    assert not first and len(second._registered) == 1 and second._registered[0] in registry
    del second
    gc.collect()
    assert len(registry) == start  # nothing left behind by either
