"""The Preset: everything needed to reproduce a session (model, data, training, strategy, display)."""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Annotated, Any

import tomli_w
from pydantic import (ConfigDict, Field, TypeAdapter, ValidationError, ValidationInfo, field_validator,
                      model_validator)

from tui_mtl.presets.architecture import ArchitectureSpec, HardSharing
from tui_mtl.presets.data import SOURCE_TARGETS, DataSpec
from tui_mtl.presets.heads import HeadSpec
from tui_mtl.presets.layers import LayerShapeError, LayerSpec, Shape, Strict, walk_trunk
from tui_mtl.presets.model_source import ModelSource, SourceKind, absolute_source, parse_model_source
from tui_mtl.presets.strategy import StrategySpec
from tui_mtl.presets.training import TrainingSpec
from tui_mtl.strategies.catalog import MGDAParams


InputShape = Annotated[tuple[int, ...], Field(min_length=1, max_length=3)]


class ModelSpec(Strict):
    """Either layers described here (input_shape, trunk, each head's hidden layers) or a user's own
    Keras model (`from`), whose outputs are matched to the heads by name."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    source: str | None = Field(default=None, alias="from")  # see presets.model_source
    args: dict[str, Any] = Field(default_factory=dict)  # keyword arguments of a `from` function
    input_shape: InputShape | None = Field(default=None, validate_default=True)  # with `from`: the model's
    trunk: list[LayerSpec] = Field(default_factory=list, validate_default=True)
    heads: list[HeadSpec] = Field(min_length=1)
    architecture: ArchitectureSpec = Field(default_factory=HardSharing)

    @field_validator("input_shape")
    @classmethod
    def _positive(cls, shape: tuple[int, ...] | None, info: ValidationInfo) -> tuple[int, ...] | None:
        if shape is None and info.data.get("source") is None:
            raise ValueError("required (or name your own model with from = ...)")
        if shape is not None and any(d <= 0 for d in shape):
            raise ValueError(f"every dimension must be > 0, got {list(shape)}")
        return shape

    @field_validator("trunk")
    @classmethod
    def _layers_or_from(cls, trunk: list[LayerSpec], info: ValidationInfo) -> list[LayerSpec]:
        if info.data.get("source") is not None and trunk:
            raise ValueError("a model given with from = ... brings its own layers; drop the trunk list")
        if info.data.get("source") is None and not trunk:
            raise ValueError("at least one layer (or name your own model with from = ...)")
        return trunk

    @field_validator("source")
    @classmethod
    def _known_source(cls, source: str | None) -> str | None:
        if source is not None:
            parse_model_source(source)
        return source

    @field_validator("heads")
    @classmethod
    def _unique_head_names(cls, heads: list[HeadSpec]) -> list[HeadSpec]:
        seen: set[str] = set()
        for head in heads:
            if head.name in seen:
                raise ValueError(f"duplicate head name {head.name!r}")
            seen.add(head.name)
        return heads

    @model_validator(mode="after")
    def _check_layers(self) -> "ModelSpec":
        if self.source is not None:
            self._check_imported()
            return self
        if self.args:
            raise ValueError("args are the keyword arguments of a from = 'module:function' model; there is none")
        try:
            walk_trunk(self.described_input_shape, self.trunk)
        except LayerShapeError as err:
            raise ValueError(str(err)) from None
        return self

    def _check_imported(self) -> None:
        if self.architecture.type != "hard":
            raise ValueError(f"architecture {self.architecture.type}: a model given with from = ... brings its "
                             f"own architecture (its trunk and heads are found from its graph)")
        for i, head in enumerate(self.heads):
            if head.hidden:
                raise ValueError(f"heads[{i}] ({head.name}): hidden layers come from the model given with "
                                 f"from = ...; drop hidden")
        if self.args and self.imported_source().kind is not SourceKind.FUNCTION:
            raise ValueError("args are the keyword arguments of a from = 'module:function' model; "
                             f"{self.source!r} is not a function")

    @property
    def imported(self) -> bool:
        """The model is the user's own (`from`), not built from the layers described here."""
        return self.source is not None

    def imported_source(self) -> ModelSource:
        assert self.source is not None
        return parse_model_source(self.source)

    def head(self, name: str) -> HeadSpec:
        for head in self.heads:
            if head.name == name:
                return head
        raise KeyError(name)

    @property
    def head_names(self) -> list[str]:
        return [h.name for h in self.heads]

    @property
    def described_input_shape(self) -> Shape:
        """The input of a model described here (the counts below are for those only)."""
        if self.input_shape is None:
            raise ValueError("a model given with from = ... is counted when it is built")
        return self.input_shape

    @property
    def features_shape(self) -> Shape:
        """What the heads receive (the builder flattens a feature map)."""
        shape, _ = walk_trunk(self.described_input_shape, self.trunk)
        return (math.prod(shape),)

    def trunk_param_count(self) -> int:
        """The shared part: every trunk copy and what the architecture adds (gates, stitch units)."""
        k = len(self.heads)
        arch = self.architecture
        shape = self.described_input_shape
        return arch.copies(k) * walk_trunk(shape, self.trunk)[1] + arch.extra_params(k, shape, self.trunk)

    def param_count(self) -> int:
        features = self.features_shape[0]
        return self.trunk_param_count() + sum(h.param_count(features) for h in self.heads)

    def activation_count(self) -> int:
        """Values one sample produces on its way through the model (for the memory estimate)."""
        shape, total = self.described_input_shape, 0
        for layer in self.trunk:
            shape = layer.output_shape(shape)
            total += math.prod(shape)
        trunk = total * self.architecture.copies(len(self.heads))
        heads = sum(sum(head.hidden) + head.output_units for head in self.heads)
        return math.prod(self.described_input_shape) + trunk + heads


class DisplaySpec(Strict):
    """How the app shows this preset at first (the keys change it live)."""

    log_scale: bool = False  # plot log10(loss): for losses orders of magnitude apart
    smoothing: float = Field(default=0.0, ge=0, lt=1)  # EMA factor on the plotted train curve


PresetName = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")]


def check_preset_name(name: str) -> str | None:
    """None if `name` can name a preset (and its file), else why not."""
    if not name:
        return "name: enter a name"
    try:
        TypeAdapter(PresetName).validate_python(name)
    except ValidationError:
        return "name: letters, digits, '_', '.', '-' only; start with a letter or digit; at most 64"
    return None


class Preset(Strict):
    name: PresetName
    description: str = ""
    model: ModelSpec
    data: DataSpec
    training: TrainingSpec = Field(default_factory=TrainingSpec)
    strategy: StrategySpec = Field(default_factory=StrategySpec)
    display: DisplaySpec = Field(default_factory=DisplaySpec)

    @model_validator(mode="after")
    def _check_data_fits_model(self) -> "Preset":
        spec = self.data.source_spec
        wanted = spec.input_shape()
        if wanted is not None and self.model.input_shape is not None and tuple(self.model.input_shape) != wanted:
            raise ValueError(f"model.input_shape {list(self.model.input_shape)} does not match the "
                             f"{spec.source} source's images {list(wanted)}")
        mgda = self.strategy.component_params().get("mgda")
        if isinstance(mgda, MGDAParams) and mgda.representation and self.model.imported:
            raise ValueError("strategy: mgda's representation = true needs the trunk's output, which tui-mtl "
                             "does not look for in a model given with from = ...; drop representation")
        if isinstance(mgda, MGDAParams) and mgda.representation and self.model.architecture.type != "hard":
            raise ValueError(f"strategy: mgda's representation = true needs one shared trunk output, and the "
                             f"{self.model.architecture.type} architecture gives each head its own; "
                             f"use architecture hard or drop representation")
        known = SOURCE_TARGETS.get(spec.source)  # a file's arrays or columns are checked when it is loaded
        for i, head in enumerate(self.model.heads):
            if known and head.target_name not in known:
                raise ValueError(f"model.heads[{i}]: head {head.name!r} wants target {head.target_name!r}, which "
                                 f"the {spec.source} source does not have (it has: {', '.join(known)}; "
                                 f"set target = ... to pick one)")
        return self

    def with_absolute_paths(self, base_dir: Path) -> "Preset":
        """The same preset with its data files' paths made absolute (relative ones are relative to
        `base_dir`, the preset file's folder), so a copy saved elsewhere (a run folder) still finds them."""
        changes: dict[str, Any] = {}
        paths = {**self.data.files(), **self.data.folders()}
        files = {key: str((Path(base_dir) / path).resolve()) for key, path in paths.items() if not path.is_absolute()}
        if files:
            changes["data"] = {"params": files}
        if self.model.source is not None and (source := absolute_source(self.model.source, Path(base_dir))) \
                != self.model.source:
            changes["model"] = {"from": source}
        function = self.data.params.get("function") if self.data.source == "function" else None
        if function is not None and (absolute := absolute_source(function, Path(base_dir))) != function:
            changes.setdefault("data", {}).setdefault("params", {})["function"] = absolute
        return self.with_changes(**changes) if changes else self

    def with_changes(self, **changes: Any) -> "Preset":
        """A validated copy with nested changes, e.g. with_changes(name="x", strategy={"name": "grouped"})."""
        data = self.model_dump(mode="json", by_alias=True)
        _deep_update(data, changes)
        return Preset.model_validate(data)

    def to_toml(self) -> str:
        data = self.model_dump(mode="json", exclude_none=True, by_alias=True)
        if not data["model"]["args"]:
            data["model"].pop("args")
        if not data["model"]["trunk"]:  # a model given with from = ...
            data["model"].pop("trunk")
        if data["model"]["architecture"] == {"type": "hard"}:  # the default: no table
            data["model"].pop("architecture")
        for key in ("weighting", "aggregator", "layout"):  # no empty [strategy.x] tables
            if not data["strategy"].get(key):
                data["strategy"].pop(key, None)
        return tomli_w.dumps(data)


def _deep_update(base: dict, changes: dict) -> None:
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict) and not _switches_kind(base[key], value):
            _deep_update(base[key], value)
        else:
            base[key] = value


def _switches_kind(old: dict, new: dict) -> bool:
    """A change of discriminator (optimizer name, data source) replaces the table: old fields don't fit."""
    return any(k in new and new[k] != old.get(k) for k in ("name", "source", "type"))


# --- does it fit this machine? ------------------------------------------------------------

BYTES_PER_VALUE = 4  # float32 variables
MAX_TENSOR_VALUES = 2**31 - 1  # TensorFlow cannot allocate one tensor larger than this


def host_memory_bytes() -> int | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def training_bytes(preset: Preset) -> int:
    """A generous estimate of what training needs: weights, gradients and Adam's two moments for up to
    K+1 optimizers over the model, plus one batch of activations forward and backward."""
    model = preset.model
    k = len(model.heads)
    params = model.param_count()
    activations = model.activation_count() * preset.training.batch_size * 2
    return BYTES_PER_VALUE * (params * (2 + 2 * (k + 1)) + activations)


def check_fits(preset: Preset, memory: int | None = None) -> None:
    """ValueError naming the field when the model cannot be built or trained on this machine."""
    model = preset.model
    if model.imported:  # its layers exist already: a model too large fails when it is loaded
        return
    shape = model.described_input_shape
    for i, layer in enumerate(model.trunk):
        values = layer.param_count(shape)
        if values > MAX_TENSOR_VALUES:
            raise ValueError(f"model.trunk[{i}] ({layer.type}): {values:,} weights in one layer; TensorFlow "
                             f"cannot hold a tensor of more than {MAX_TENSOR_VALUES:,} values")
        shape = layer.output_shape(shape)
    features = model.features_shape[0]
    for i, head in enumerate(model.heads):
        if head.param_count(features) > MAX_TENSOR_VALUES:
            raise ValueError(f"model.heads[{i}] ({head.name}): {head.param_count(features):,} weights; TensorFlow "
                             f"cannot hold a tensor of more than {MAX_TENSOR_VALUES:,} values")
    memory = host_memory_bytes() if memory is None else memory
    needed = training_bytes(preset)
    if memory is not None and needed > memory:
        raise ValueError(f"model: {model.param_count():,} parameters at batch {preset.training.batch_size} need about "
                         f"{needed / 2**30:,.1f} GiB to train, and this machine has {memory / 2**30:,.1f} GiB; "
                         f"use smaller layers (units, filters) or a smaller training.batch_size")
