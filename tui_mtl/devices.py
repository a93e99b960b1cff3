"""What the accelerators can hold: TensorFlow reports memory in use, not the card's size."""

from __future__ import annotations

import shutil
import subprocess


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
