"""Reading, finding and writing preset files: the shipped folder, the user's folder, any path.

A user preset of the same name shadows a shipped one; every listing says so in the same words
(`origin_label`), and saving under a shipped name asks first (the app) or is refused (`save_user_preset`).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import NamedTuple

from pydantic import ValidationError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from tui_mtl.errors import PresetError
from tui_mtl.fileio import atomic_write_text
from tui_mtl.presets.preset import Preset

PRESETS_ENV = "TUI_MTL_PRESETS_DIR"


def format_validation_error(err: ValidationError) -> str:
    first = err.errors()[0]
    loc = ""
    for part in first["loc"]:
        if isinstance(part, int):
            loc += f"[{part}]"
        elif str(part).startswith(("function-", "tagged-union")):
            continue
        else:  # an unknown key may be any string, even one with a newline: keep the message one line
            loc += ("." if loc else "") + (part if str(part).isidentifier() else repr(str(part)))
    msg = first["msg"].removeprefix("Value error, ")
    more = len(err.errors()) - 1
    tail = f" (and {more} more problem{'s' if more > 1 else ''})" if more else ""
    return f"{loc or 'preset'}: {msg}{tail}"


def parse_preset(text: str, source: str = "<string>") -> Preset:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise PresetError(f"{source}: not valid TOML: {err}") from None
    except RecursionError:  # tomllib recurses into nested arrays and inline tables
        raise PresetError(f"{source}: not valid TOML: nested too deeply") from None
    try:
        return Preset.model_validate(data)
    except ValidationError as err:
        raise PresetError(f"{source}: {format_validation_error(err)}") from None


def check_data_files(preset: Preset, base_dir: Path | None, source: str) -> None:
    """PresetError naming the parameter when a data file the preset names does not exist."""
    for key, path in preset.data.files().items():
        full = path if path.is_absolute() or base_dir is None else Path(base_dir) / path
        if not full.is_file():
            raise PresetError(f"{source}: data.params.{key}: no such file {full}")
    for key, path in preset.data.folders().items():
        full = path if path.is_absolute() or base_dir is None else Path(base_dir) / path
        if not full.is_dir():
            raise PresetError(f"{source}: data.params.{key}: no such folder {full}")


def read_preset(path: str | Path) -> Preset:
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise PresetError(f"{path}: cannot read: {err.strerror or err}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise PresetError(f"{path}: not valid TOML: the file is not UTF-8 text") from None
    preset = parse_preset(text, str(path))
    check_data_files(preset, path.parent, str(path))
    return preset


def shipped_presets_dir() -> Path:
    package = Path(__file__).resolve().parent.parent
    installed = package / "_shipped_presets"
    if installed.is_dir():
        return installed
    return package.parent / "presets"  # a source checkout


def user_presets_dir() -> Path:
    override = os.environ.get(PRESETS_ENV)
    if override:
        return Path(override).expanduser()
    import platformdirs

    return Path(platformdirs.user_config_dir("tui-mtl")) / "presets"


class PresetFile(NamedTuple):
    origin: str  # "shipped" or "user"
    path: Path


def shipped_names() -> set[str]:
    folder = shipped_presets_dir()
    return {p.stem for p in folder.glob("*.toml")} if folder.is_dir() else set()


def origin_label(origin: str, name: str, shipped: set[str] | None = None) -> str:
    """'shipped', 'user', or 'user, shadows shipped' — the same words in the picker and `tui-mtl presets`."""
    shipped = shipped_names() if shipped is None else shipped
    return "user, shadows shipped" if origin == "user" and name in shipped else origin


def preset_files() -> list[PresetFile]:
    """Every preset file; a user preset shadows the shipped one of the same name (only it is listed)."""
    found: dict[str, PresetFile] = {}
    for origin, folder in (("shipped", shipped_presets_dir()), ("user", user_presets_dir())):
        if folder.is_dir():
            for path in sorted(folder.glob("*.toml")):
                found[path.stem] = PresetFile(origin, path)
    return sorted(found.values(), key=lambda item: (item.origin != "shipped", item.path.stem))


def find_preset_path(name_or_path: str) -> Path:
    candidate = Path(name_or_path).expanduser()
    looks_like_path = candidate.suffix == ".toml" or os.sep in name_or_path
    if looks_like_path and candidate.is_file():
        return candidate
    if os.sep not in name_or_path:  # names may end in ".toml" too: a preset saved as "exp.toml"
        for entry in reversed(preset_files()):
            if entry.path.stem == name_or_path:
                return entry.path
    if looks_like_path:
        raise PresetError(f"{name_or_path}: no such preset file")
    names = ", ".join(entry.path.stem for entry in preset_files()) or "none"
    raise PresetError(f"unknown preset {name_or_path!r} (known: {names})")


def load_preset(name_or_path: str | Path) -> Preset:
    return read_preset(find_preset_path(str(name_or_path)))


def user_preset_path(name: str) -> Path:
    return user_presets_dir() / f"{name}.toml"


def save_user_preset(preset: Preset, *, overwrite: bool = False) -> Path:
    """Write atomically to the user's preset folder. Refuses (FileExistsError) to replace a user
    preset or to shadow a shipped one unless `overwrite`: the caller asks first."""
    path = user_preset_path(preset.name)
    if not overwrite and (path.exists() or preset.name in shipped_names()):
        raise FileExistsError(path)
    atomic_write_text(path, preset.to_toml())
    return path
