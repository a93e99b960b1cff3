"""Run folders: where a session's logs and outputs go (under the user's state dir by default)."""

from __future__ import annotations

import os
import re
import shutil
import time
from pathlib import Path

RUNS_ENV = "TUI_MTL_RUNS_DIR"


def runs_root() -> Path:
    override = os.environ.get(RUNS_ENV)
    if override:
        return Path(override).expanduser()
    import platformdirs

    return Path(platformdirs.user_state_dir("tui-mtl")) / "runs"


def folder_name(branch: str) -> str:
    """A branch name as a folder name: 'grouped (x lr 0.0001)' -> 'grouped-x-lr-0.0001'."""
    return re.sub(r"[^A-Za-z0-9_.+@-]+", "-", branch).strip("-") or "branch"


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


def find_run(name_or_path: str, root: Path | None = None, marker: str = "preset.toml") -> Path:
    """A run folder by path, by name under the runs root, or `latest`: one holding `marker`
    (metrics.csv: any run, also a Keras fit streamed by tui_mtl.keras.LiveCallback)."""
    from tui_mtl.errors import TuiMtlError

    root = runs_root() if root is None else Path(root)
    candidate = Path(name_or_path).expanduser()
    if name_or_path == "latest":
        runs = recent_runs(root, marker=marker)
        if not runs:
            raise TuiMtlError(f"no runs under {root}")
        return runs[0]
    for path in (candidate, root / name_or_path):
        if path.is_dir():
            if not (path / marker).is_file():
                raise TuiMtlError(f"{path}: not a run folder (no {marker})")
            return path
    raise TuiMtlError(f"no run {name_or_path!r} (looked for a folder of that name and under {root})")


def discard_if_unused(path: Path | None) -> bool:
    """Remove a run folder nothing was recorded in: the app quit before its session started, leaving
    at most TensorFlow's start-up lines in stderr.log (one with a traceback stays: it says what went
    wrong). Returns whether it was removed."""
    if path is None or not path.is_dir() or any(p.name != "stderr.log" for p in path.iterdir()):
        return False
    log = path / "stderr.log"
    if log.is_file() and "Traceback" in log.read_text(errors="replace"):
        return False
    shutil.rmtree(path, ignore_errors=True)
    return not path.exists()


def recent_runs(root: Path | None = None, limit: int | None = None, marker: str = "preset.toml") -> list[Path]:
    """Run folders (holding `marker`), newest first (their names start with the time)."""
    root = runs_root() if root is None else Path(root)
    if not root.is_dir():
        return []
    runs = sorted((p for p in root.iterdir() if (p / marker).is_file()), key=lambda p: p.name, reverse=True)
    return runs[:limit] if limit else runs
