"""Where the dashboard gets its Session, run recorder and device line. Called in the worker thread only.

The app takes these as parameters, so tests can inject a fake session that needs no TensorFlow.
`tui_mtl.engine` (and TensorFlow with it) is imported here, inside the functions, never at module
level: the first frame appears before TensorFlow has loaded.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any, Callable, Protocol

REPORT_INTERVAL = 0.2  # seconds between reports while training (the engine batches by time)

_configured = threading.Lock()
_devices_done = False


class SessionFactory(Protocol):
    def __call__(self, preset: Any, base_dir: Path | None) -> Any: ...


def check_session_options(options: dict | None) -> dict:
    """Parse the device options without TensorFlow (ValueError naming the bad one)."""
    from tui_mtl import devices

    options = dict(options or {})
    gpus = devices.parse_device_list(options.get("gpus"))
    chosen = devices.parse_device_list(options.get("devices"))
    mixed = options.get("mixed_precision") or "off"
    if mixed not in devices.PRECISIONS:
        raise ValueError(f"--mixed-precision {mixed!r}: use one of {', '.join(devices.PRECISIONS)}")
    return {"gpus": None if gpus == "all" else gpus, "devices": chosen, "mixed_precision": mixed,
            "memory_growth": bool(options.get("memory_growth", True))}


def engine_options(options: dict | None) -> dict:
    """Configure devices (once per process, before TensorFlow touches a GPU); the Session's keywords."""
    global _devices_done
    from tui_mtl import devices

    options = check_session_options(options)
    with _configured:
        if not _devices_done:
            devices.configure(options["gpus"], memory_growth=options["memory_growth"])
            _devices_done = True
    return {"distribution": devices.make_distribution(options["devices"]),
            "mixed_precision": options["mixed_precision"]}


def open_session(preset, base_dir: Path | None, session_options: dict | None = None):
    """The real engine Session (imports TensorFlow: seconds)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    extra = engine_options(session_options)
    from tui_mtl.engine import Session

    return Session(preset, base_dir=base_dir, report_interval=REPORT_INTERVAL, **extra)


def open_recorder(run_dir: Path, session):
    """A run folder for `session`: preset.toml, events.jsonl, metrics.csv, TensorBoard logs, checkpoints."""
    from tui_mtl.recorder import RunRecorder

    return RunRecorder(run_dir, session)


def _gib(value: float) -> str:
    return f"{value / 2**30:.2f}"


def describe_device(session) -> tuple[str, bool]:
    """'GPU0 NVIDIA A100 1.20/3.40 GiB · GPU1 … · TF 2.21.0' (current/peak memory TensorFlow holds),
    or 'CPU only (8 cores) · TF 2.21.0'.

    The flag says whether the line changes over time (GPU memory) and is worth refreshing.
    """
    import tensorflow as tf

    version = f"TF {tf.__version__}"
    gpus = tf.config.get_visible_devices("GPU")
    precision = getattr(session, "mixed_precision", "off")
    suffix = (f" · {precision}" if precision not in (None, "off") else "") + f" · {version}"
    replicas = getattr(session, "replicas", 1)
    if replicas and replicas > 1:
        suffix = f" · mirrored ×{replicas}" + suffix
    if not gpus:
        return f"CPU only ({os.cpu_count()} cores){suffix}", False
    parts = []
    for index, gpu in enumerate(gpus):
        try:
            name = tf.config.experimental.get_device_details(gpu).get("device_name", gpu.name)
        except Exception:  # details are best-effort
            name = gpu.name
        try:
            info = tf.config.experimental.get_memory_info(f"GPU:{index}")
            memory = f" {_gib(info['current'])}/{_gib(info['peak'])} GiB"
        except Exception:
            memory = ""
        parts.append(f"GPU{index} {name}{memory}")
    return " · ".join(parts) + suffix, True


DeviceProbe = Callable[[Any], tuple[str, bool]]
