"""Device memory: one clear message for an out-of-memory error, and what a fork would need."""

from __future__ import annotations

import math


def out_of_memory_message(err: BaseException) -> str:
    text = str(err).strip()
    first = text.splitlines()[0][:200] if text else type(err).__name__
    return ("the device ran out of memory; try a smaller training.batch_size, a smaller model, fewer "
            f"fork branches, or --mixed-precision bf16 ({first})")


def state_bytes(variables) -> int:
    import tensorflow as tf

    return sum(math.prod(v.shape) * tf.as_dtype(v.dtype).size for v in variables)


def free_device_memory(device: str | None = None) -> int | None:
    """Bytes free on GPU `device` (a TensorFlow name; None: the first GPU), or None where it is no GPU
    (the host's memory is not checked)."""
    import tensorflow as tf

    if not tf.config.list_logical_devices("GPU"):
        return None
    from tui_mtl.devices import gpu_total_memory, short_name

    name = "GPU:0" if device is None else short_name(device)
    if not name.startswith("GPU:"):
        return None
    try:
        total = gpu_total_memory(int(name.split(":")[1]))
        used = tf.config.experimental.get_memory_info(name)["current"]
    except Exception:  # noqa: BLE001 — no way to tell: do not refuse
        return None
    return None if total is None else total - used
