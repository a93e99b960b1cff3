"""A step's `tf.function` that gives back what its traces left in TensorFlow's global gradient registry.

Every optimizer update traced in a graph goes through `ReplicaContext.all_reduce`, which wraps its
sum in `tf.custom_gradient`; in graph mode that registers a gradient function under a new name in a
process-wide registry that is never emptied, and the function keeps the whole traced graph alive.
A session that was dropped (a restart, a fork's branch, a test) thus leaked ~35,000 Python objects
and its graphs for the life of the process. The registrations a trace makes are only used while
that trace differentiates, so they go when the function that made them is garbage-collected.
"""

from __future__ import annotations

import weakref
from typing import Any, Callable

import tensorflow as tf

try:
    from tensorflow.python.framework import ops as _tf_ops

    _REGISTRY: dict[str, Any] | None = _tf_ops._gradient_registry._registry
except (ImportError, AttributeError):  # another TensorFlow's internals: leave its registry alone
    _REGISTRY = None


# A call counts what it registered as the entries added after its start, so the registry must only grow
# while a call runs. A finalizer can run in the middle of one (a garbage collection during a trace):
# what it would remove then waits until no call runs.
_calls_running = 0
_waiting: list[str] = []


def _forget(names: list[str]) -> None:
    if _REGISTRY is None:
        return
    if _calls_running:
        _waiting.extend(names)
        return
    for name in names:
        _REGISTRY.pop(name, None)


class TracedStep:
    """`tf.function(python_function, autograph=False)`, called as the function itself.

    The names a call added to the registry are the ones its trace made (a call that does not trace
    adds none); a finalizer removes them when this object goes. Traces on another thread at the same
    moment could be counted here too: removing those early is harmless unless something later takes
    the gradient of a call to their function, which no step does.
    """

    def __init__(self, python_function: Callable) -> None:
        self.function = tf.function(python_function, autograph=False)  # its traces, for a test to read
        self._registered: list[str] = []
        weakref.finalize(self, _forget, self._registered)

    def __call__(self, *args: Any) -> Any:
        global _calls_running
        if _REGISTRY is None:
            return self.function(*args)
        before = len(_REGISTRY)
        _calls_running += 1
        try:
            return self.function(*args)
        finally:
            _calls_running -= 1
            if len(_REGISTRY) > before:
                self._registered.extend(list(_REGISTRY)[before:])
            if not _calls_running and _waiting:
                waiting = _waiting[:]
                _waiting.clear()
                _forget(waiting)
