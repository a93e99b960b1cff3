"""Calling a user's own function named in a preset ('package.module:make' or 'file.py:make').

Every failure is one PresetError that starts with where the reference was given (`where`, e.g.
"model.from") and keeps the user's own message.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path
from typing import Any

from tui_mtl.errors import PresetError
from tui_mtl.presets.model_source import ModelSource


def resolve(location: str, base_dir: Path | None) -> Path:
    """A path as a preset writes it: relative to the preset file's folder."""
    path = Path(location).expanduser()
    return path if path.is_absolute() or base_dir is None else Path(base_dir) / path


def call(source: ModelSource, args: dict, base_dir: Path | None, where: str) -> Any:
    """What the function returns, called with `args` as keyword arguments."""
    module = _import(source, base_dir, where)
    function = getattr(module, source.function, None)
    if not callable(function):
        raise PresetError(f"{where}: {source.location} has no function {source.function!r}")
    try:
        return function(**args)
    except Exception as err:
        arguments = ", ".join(f"{k}={v!r}" for k, v in args.items())
        raise PresetError(f"{where}: {source.text()}({arguments}) raised {one_line(err)}") from None


def one_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0][:300]}" if text else type(err).__name__


def _import(source: ModelSource, base_dir: Path | None, where: str) -> Any:
    """The module, from a .py file or by name (the preset's folder first, then the Python path)."""
    try:
        if source.from_file:
            return _import_file(resolve(source.location, base_dir), where)
        added = base_dir is not None and str(base_dir) not in sys.path
        if added:
            sys.path.insert(0, str(base_dir))
        try:
            return importlib.import_module(source.location)
        finally:
            if added:
                sys.path.remove(str(base_dir))
    except PresetError:
        raise
    except ModuleNotFoundError as err:
        looked = f"{base_dir} and the Python path" if base_dir is not None else "the Python path"
        raise PresetError(f"{where}: cannot import {err.name or source.location!r} (looked in {looked})") from None
    except Exception as err:  # the user's module failed while importing: their words
        raise PresetError(f"{where}: importing {source.location} raised {one_line(err)}") from None


def _import_file(path: Path, where: str) -> Any:
    if not path.is_file():
        raise PresetError(f"{where}: no such file {path}")
    name = f"tui_mtl_user_{path.stem}"
    loader_spec = importlib.util.spec_from_file_location(name, path)
    if loader_spec is None or loader_spec.loader is None:
        raise PresetError(f"{where}: {path} is not a Python file")
    module = importlib.util.module_from_spec(loader_spec)
    # registered before it runs, as `import` does: Keras' serializable registrations and dataclasses
    # look their module up by name
    sys.modules[name] = module
    # its own folder first while it runs, as for a script: it may import its neighbours (model.py)
    folder = str(path.parent.resolve())
    sys.path.insert(0, folder)
    try:
        loader_spec.loader.exec_module(module)
    finally:
        sys.path.remove(folder)
    return module
