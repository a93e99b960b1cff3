"""Choices the app remembers between runs (the log scale per preset), in the user's config folder."""

from __future__ import annotations

import json
import os
from pathlib import Path

from tui_mtl.fileio import atomic_write_text

ENV = "TUI_MTL_CONFIG_DIR"


def _path() -> Path:
    override = os.environ.get(ENV)
    if override:
        return Path(override).expanduser() / "ui.json"
    import platformdirs

    return Path(platformdirs.user_config_dir("tui-mtl")) / "ui.json"


def _read() -> dict:
    try:
        data = json.loads(_path().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def log_scale(preset: str, default: bool) -> bool:
    value = _read().get("log_scale", {}).get(preset)
    return value if isinstance(value, bool) else default


def remember_log_scale(preset: str, value: bool) -> None:
    data = _read()
    table = data.get("log_scale") if isinstance(data.get("log_scale"), dict) else {}
    table[preset] = value
    data["log_scale"] = table
    try:
        atomic_write_text(_path(), json.dumps(data, indent=1))
    except OSError:
        pass  # a read-only config folder: the choice is not remembered, nothing else breaks
