"""Presets: the pydantic schema of a session, read from and written to TOML.

Importing this package stays cheap (no TensorFlow): the CLI and the picker validate presets long
before TensorFlow is loaded. One module per part of the schema; the number rules in `numbers`.
"""

from tui_mtl.presets.data import SOURCE_TARGETS, DataSpec
from tui_mtl.presets.heads import LOSSES, METRICS, HeadSpec, loss_label
from tui_mtl.presets.layers import LayerSpec
from tui_mtl.presets.numbers import NonNegFloat, PositiveFloat
from tui_mtl.presets.preset import (DisplaySpec, ModelSpec, Preset, check_fits, check_preset_name,
                                    training_bytes)
from tui_mtl.presets.store import (
    PRESETS_ENV,
    PresetFile,
    check_data_files,
    find_preset_path,
    format_validation_error,
    load_preset,
    origin_label,
    parse_preset,
    preset_files,
    read_preset,
    save_user_preset,
    shipped_names,
    shipped_presets_dir,
    user_preset_path,
    user_presets_dir,
)
from tui_mtl.presets.strategy import StrategySpec
from tui_mtl.presets.training import TrainingSpec
from tui_mtl.strategies.catalog import STRATEGY_NAMES

__all__ = [
    "Preset", "ModelSpec", "HeadSpec", "DataSpec", "TrainingSpec", "StrategySpec", "DisplaySpec", "LayerSpec",
    "STRATEGY_NAMES", "SOURCE_TARGETS", "LOSSES", "METRICS", "PositiveFloat", "NonNegFloat", "PRESETS_ENV",
    "PresetFile", "check_data_files", "check_preset_name", "check_fits", "find_preset_path", "format_validation_error",
    "load_preset",
    "loss_label", "origin_label", "parse_preset", "preset_files", "read_preset", "save_user_preset",
    "shipped_names", "shipped_presets_dir", "training_bytes", "user_preset_path", "user_presets_dir",
]
