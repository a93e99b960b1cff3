"""What the accelerators can hold: TensorFlow reports memory in use, not the card's size."""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
from typing import Any

# --mixed-precision choices: compute dtype with float32 variables and outputs; fp16 adds loss scaling
PRECISIONS = ("off", "bf16", "fp16")


def gpu_total_memory(index: int) -> int | None:
    """Total bytes of GPU `index` as nvidia-smi reports them, or None where it cannot tell."""
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return None
    try:
        out = subprocess.run([smi, "--query-gpu=memory.total", "--format=csv,noheader,nounits", "-i", str(index)],
                             capture_output=True, text=True, timeout=5, check=True).stdout
        return int(float(out.strip().splitlines()[0])) * 2**20  # MiB
    except (OSError, subprocess.SubprocessError, ValueError, IndexError):
        return None


def parse_device_list(text: str | None) -> list[int] | str | None:
    """'all' -> 'all'; '0,2' -> [0, 2]; None/'' -> None. Raises ValueError naming the bad item."""
    if text is None or text.strip() == "":
        return None
    if text.strip() == "all":
        return "all"
    indices = []
    for item in text.split(","):
        item = item.strip()
        if not item.isdigit():
            raise ValueError(f"{item!r} is not a device index (use e.g. 0,1 or all)")
        indices.append(int(item))
    if len(set(indices)) != len(indices):
        raise ValueError(f"device {text!r} lists an index twice")
    return indices


def configure(gpus: list[int] | None = None, memory_growth: bool = True) -> list:
    """Before TensorFlow touches a GPU: make only `gpus` visible and let memory grow on demand, so a
    shared box does not have all its memory taken by one session. Returns the visible GPUs."""
    from tui_mtl.tf_import import import_tensorflow

    tf = import_tensorflow()

    physical = tf.config.list_physical_devices("GPU")
    if gpus is not None:
        missing = [i for i in gpus if i >= len(physical)]
        if missing:
            raise ValueError(f"no GPU {missing[0]}: this machine has {len(physical)} "
                             f"(CUDA_VISIBLE_DEVICES={os.environ.get('CUDA_VISIBLE_DEVICES', 'unset')})")
        tf.config.set_visible_devices([physical[i] for i in gpus], "GPU")
    visible = tf.config.get_visible_devices("GPU")
    if memory_growth:
        for gpu in visible:
            tf.config.experimental.set_memory_growth(gpu, True)
    return visible


_mirrored: dict[tuple[str, ...], Any] = {}  # one MirroredStrategy per device set, for the process


def device_names(devices: list[int] | str) -> list[str]:
    """The TensorFlow names of the chosen devices: indices among the visible GPUs (or, on a machine
    without GPUs, among the logical CPU devices: how the multi-device code is tested here)."""
    import tensorflow as tf

    kind = "GPU" if tf.config.list_logical_devices("GPU") else "CPU"
    available = [d.name for d in tf.config.list_logical_devices(kind)]
    if devices == "all":
        return available
    chosen = []
    for index in devices:
        if index >= len(available):
            where = "" if kind == "GPU" else " (no GPU here: --devices uses GPUs)"
            raise ValueError(f"no {kind} device {index}: {len(available)} available ({', '.join(available)}){where}")
        chosen.append(available[index])
    return chosen


def make_distribution(devices: list[int] | str | None):
    """None for one device; otherwise a MirroredStrategy over the chosen devices.

    The same devices give the same strategy object for the life of the process: every strategy numbers
    its collective ops from the same start, so a second one over the same devices reuses the first's
    numbers, and a later session's all-reduce of other shapes failed ('Shape mismatch in the collective
    instance')."""
    if devices is None:
        return None
    import tensorflow as tf

    chosen = device_names(devices)
    if len(chosen) < 2 and devices == "all":
        return None  # one device: nothing to mirror
    key = tuple(chosen)
    if key not in _mirrored:
        _mirrored[key] = tf.distribute.MirroredStrategy(chosen)
    return _mirrored[key]


_one_device: dict[str, Any] = {}


def on_one_device(name: str):
    """A OneDeviceStrategy on `name` (one per device for the process): everything a stepper builds
    and runs inside it lives on that device. How a fork places its branches on different devices."""
    import tensorflow as tf

    if name not in _one_device:
        _one_device[name] = tf.distribute.OneDeviceStrategy(name)
    return _one_device[name]


def short_name(device: str) -> str:
    """'/job:localhost/replica:0/task:0/device:GPU:1' -> 'GPU:1'."""
    return device.rsplit("device:", 1)[-1]


class DeviceOptions:
    """--gpus / --devices / --mixed-precision / --no-memory-growth, for every command and the app:
    parsed without TensorFlow (ValueError naming the bad one), applied once per process."""

    _configured = False  # devices are configured once per process
    _lock = threading.Lock()

    def __init__(self, gpus: str | None = None, devices: str | None = None, mixed_precision: str | None = None,
                 memory_growth: bool = True, jit: bool = False):
        parsed = parse_device_list(gpus)
        self.gpus = None if parsed == "all" else parsed
        self.devices = parse_device_list(devices)
        if mixed_precision is not None and mixed_precision not in PRECISIONS:
            raise ValueError(f"--mixed-precision {mixed_precision!r}: use one of {', '.join(PRECISIONS)}")
        self.mixed_precision = mixed_precision  # None: the default (off), or a resumed run's own
        self.memory_growth = memory_growth
        self.jit = jit  # --jit: XLA for every step, whatever the preset says

    def compiled(self, preset: Any) -> Any:
        """`preset` with training.jit_compile on when --jit asks for it (else the preset's own)."""
        return preset.with_changes(training={"jit_compile": True}) if self.jit else preset

    def session_options(self, mixed_precision: str | None = None) -> dict:
        """Configure the devices (the first time, before TensorFlow touches a GPU) and return the
        Session's keyword arguments; `mixed_precision` is the fallback when none was given."""
        self._configure()
        return {"distribution": make_distribution(self.devices),
                "mixed_precision": self.mixed_precision or mixed_precision or "off"}

    def placement(self, mixed_precision: str | None = None) -> tuple[dict, list[str] | None]:
        """For a comparison: the Session's keywords (no mirroring) and the devices its branches are
        placed on, one branch per device in turn (None: --devices not given)."""
        self._configure()
        options = {"distribution": None, "mixed_precision": self.mixed_precision or mixed_precision or "off"}
        return options, None if self.devices is None else device_names(self.devices)

    def _configure(self) -> None:
        with DeviceOptions._lock:
            if not DeviceOptions._configured:
                configure(self.gpus, memory_growth=self.memory_growth)
                DeviceOptions._configured = True
