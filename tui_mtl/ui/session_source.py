"""Where the dashboard gets its Session and device line. Called in the worker thread only.

The app takes these as parameters, so tests can inject a fake session that needs no TensorFlow.
`tui_mtl.engine` (and TensorFlow with it) is imported here, inside the functions, never at module
level: the first frame appears before TensorFlow has loaded.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable, Protocol

REPORT_INTERVAL = 0.2  # seconds between reports while training (the engine batches by time)


class SessionFactory(Protocol):
    def __call__(self, preset: Any, base_dir: Path | None) -> Any: ...


def open_session(preset, base_dir: Path | None):
    """The real engine Session (imports TensorFlow: seconds)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from tui_mtl.engine import Session

    return Session(preset, base_dir=base_dir, report_interval=REPORT_INTERVAL)


def describe_device(session) -> tuple[str, bool]:
    """('GPU: NVIDIA A100 · mem 1.2/3.4 GiB · TF 2.21.0', True) or ('CPU (8 cores) · TF 2.21.0', False).

    The flag says whether the line changes over time (GPU memory) and is worth refreshing.
    """
    import tensorflow as tf

    version = f"TF {tf.__version__}"
    gpus = tf.config.list_physical_devices("GPU")
    if not gpus:
        return f"CPU ({os.cpu_count()} cores) · {version}", False
    try:
        details = tf.config.experimental.get_device_details(gpus[0])
        name = details.get("device_name", gpus[0].name)
    except Exception:  # details are best-effort
        name = gpus[0].name
    extra = f" +{len(gpus) - 1}" if len(gpus) > 1 else ""
    try:
        info = tf.config.experimental.get_memory_info("GPU:0")
        memory = f" · mem {info['current'] / 2**30:.2f} GiB (peak {info['peak'] / 2**30:.2f})"
    except Exception:
        memory = ""
    return f"GPU: {name}{extra}{memory} · {version}", True


DeviceProbe = Callable[[Any], tuple[str, bool]]
