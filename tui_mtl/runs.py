"""Run folders: where a session's logs and outputs go (under the user's state dir by default)."""

from __future__ import annotations

import os
import time
from pathlib import Path

RUNS_ENV = "TUI_MTL_RUNS_DIR"


def runs_root() -> Path:
    override = os.environ.get(RUNS_ENV)
    if override:
        return Path(override).expanduser()
    import platformdirs

    return Path(platformdirs.user_state_dir("tui-mtl")) / "runs"


def new_run_dir(preset_name: str, root: Path | None = None) -> Path:
    """A fresh folder named by time and preset; never reuses an existing one."""
    root = runs_root() if root is None else Path(root)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for n in range(1000):
        path = root / (f"{stamp}-{preset_name}" + (f"-{n}" if n else ""))
        try:
            path.mkdir(parents=True, exist_ok=False)
            return path
        except FileExistsError:
            continue
    raise FileExistsError(f"cannot create a new run folder under {root}")
