"""Where the dashboard's worker gets its Session, run recorder and device line (worker thread only).

The app takes these as parameters, so tests can build a session on a small stepper. TensorFlow is
imported inside these functions, never at module level: the first frame appears before it loads.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable, Protocol

from tui_mtl.devices import DeviceOptions

REPORT_INTERVAL = 0.2  # seconds between reports while training (the engine batches by time)


class SessionFactory(Protocol):
    def __call__(self, preset: Any, base_dir: Path | None) -> Any: ...


def open_session(preset: Any, base_dir: Path | None, devices: DeviceOptions | None = None,
                 mixed_precision: str | None = None) -> Any:
    """The real engine Session (imports TensorFlow: seconds); devices are configured first.
    `mixed_precision`: the fallback when the options name none (a resumed run's own)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    devices = devices or DeviceOptions()
    options = devices.session_options(mixed_precision)
    from tui_mtl.engine import Session

    return Session(devices.compiled(preset), base_dir=base_dir, report_interval=REPORT_INTERVAL, **options)


def open_recorder(run_dir: Path, session: Any) -> Any:
    """A run folder for `session`: preset.toml, events.jsonl, metrics.csv, TensorBoard logs, checkpoints."""
    from tui_mtl.runs.recorder import RunRecorder

    return RunRecorder(run_dir, session)


def _gib(value: float) -> str:
    return f"{value / 2**30:.2f}"


def describe_device(session: Any) -> tuple[str, bool]:
    """'GPU0 NVIDIA A100 1.20/3.40 GiB · GPU1 … · TF 2.21.0' (current/peak memory TensorFlow holds),
    or 'CPU only (8 cores) · TF 2.21.0'. The flag says whether the line changes over time (GPU memory)."""
    import tensorflow as tf

    version = f"TF {tf.__version__}"
    gpus = tf.config.get_visible_devices("GPU")
    precision = session.mixed_precision
    suffix = (f" · {precision}" if precision not in (None, "off") else "") + \
        (" · XLA" if session.preset.training.jit_compile else "") + f" · {version}"
    if session.replicas > 1:
        suffix = f" · mirrored ×{session.replicas}" + suffix
    if not gpus:
        return f"CPU only ({os.cpu_count()} cores){suffix}", False
    parts = []
    for index, gpu in enumerate(gpus):
        try:
            name = tf.config.experimental.get_device_details(gpu).get("device_name", gpu.name)
        except Exception:  # noqa: BLE001 — details are best-effort
            name = gpu.name
        try:
            info = tf.config.experimental.get_memory_info(f"GPU:{index}")
            memory = f" {_gib(info['current'])}/{_gib(info['peak'])} GiB"
        except Exception:  # noqa: BLE001
            memory = ""
        parts.append(f"GPU{index} {name}{memory}")
    return " · ".join(parts) + suffix, True


DeviceProbe = Callable[[Any], tuple[str, bool]]
