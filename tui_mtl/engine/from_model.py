"""Session.from_model: a Session on a keras.Model and data in memory, no preset file needed.

The preset it makes names IN_MEMORY for the model (and for data given as arrays or a Dataset): it
records the heads, training and strategy like any preset, but only this process can rebuild it.
"""

from __future__ import annotations

import re
from typing import Any, Mapping

from pydantic import ValidationError

from tui_mtl.errors import PresetError
from tui_mtl.presets import DataSpec, HeadSpec, Preset
from tui_mtl.presets.model_source import IN_MEMORY
from tui_mtl.presets.store import format_validation_error


def preset_for_model(model: Any, heads: Mapping[str, Any] | list, data: Any, *, name: str | None = None,
                     training: Mapping[str, Any] | None = None, strategy: str | Mapping[str, Any] = "summed",
                     data_options: Mapping[str, Any] | None = None) -> tuple[Preset, Any]:
    """The preset, and the data to hand the stepper (None when `data` is a DataSpec or its dict)."""
    given = None
    if isinstance(data, DataSpec):
        data_table: dict = data.model_dump()
    elif isinstance(data, Mapping) and "source" in data:
        data_table = dict(data)
    else:
        data_table, given = {"source": "function", "params": {"function": IN_MEMORY}}, data
    data_table.update(data_options or {})
    table = {
        "name": name or _preset_name(getattr(model, "name", "") or "model"),
        "description": "a keras.Model given to Session.from_model",
        "model": {"from": IN_MEMORY, "heads": _head_tables(heads)},
        "data": data_table,
        "training": dict(training or {}),
        "strategy": {"name": strategy} if isinstance(strategy, str) else dict(strategy),
    }
    try:
        return Preset.model_validate(table), given
    except ValidationError as err:
        raise PresetError(f"Session.from_model: {format_validation_error(err)}") from None


def _head_tables(heads: Mapping[str, Any] | list) -> list[dict]:
    """Heads as {name: {kind: ...}} or a list of HeadSpecs / dicts with a name."""
    if isinstance(heads, Mapping):
        items = [(name, spec) for name, spec in heads.items()]
        return [{"name": name, **_as_dict(spec)} for name, spec in items]
    return [_as_dict(spec) for spec in heads]


def _as_dict(spec: Any) -> dict:
    return spec.model_dump(exclude={"hidden"}) if isinstance(spec, HeadSpec) else dict(spec)


def _preset_name(text: str) -> str:
    cleaned = re.sub(r"[^A-Za-z0-9_.-]", "-", text).strip("-._") or "model"
    return cleaned[:64]
