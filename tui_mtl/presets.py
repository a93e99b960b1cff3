"""Presets: the pydantic schema of a session, read from and written to TOML.

Importing this module must stay cheap (no TensorFlow): the CLI and the UI's picker
validate presets long before TensorFlow is loaded.
"""

from __future__ import annotations

import math
import os
import sys
from pathlib import Path
from typing import Annotated, Any, Literal, Union

from pydantic import (BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator,
                      model_validator)

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

import tomli_w

from tui_mtl.errors import PresetError
from tui_mtl.fileio import atomic_write_text
from tui_mtl.strategies.registry import STRATEGY_NAMES, parse_strategy_name

PRESETS_ENV = "TUI_MTL_PRESETS_DIR"

PositiveFloat = Annotated[float, Field(gt=0, allow_inf_nan=False)]
NonNegFloat = Annotated[float, Field(ge=0, allow_inf_nan=False)]
Activation = Literal["relu", "gelu", "tanh", "sigmoid", "elu", "selu", "swish", "linear"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# --- trunk layers -----------------------------------------------------------------------


class Conv2D(_Strict):
    type: Literal["conv2d"]
    filters: int = Field(gt=0)
    kernel_size: int = Field(default=3, gt=0)
    strides: int = Field(default=1, gt=0)
    padding: Literal["same", "valid"] = "same"
    activation: Activation = "relu"


class MaxPool(_Strict):
    type: Literal["max_pool"]
    pool_size: int = Field(default=2, gt=0)


class AvgPool(_Strict):
    type: Literal["avg_pool"]
    pool_size: int = Field(default=2, gt=0)


class GlobalAvgPool(_Strict):
    type: Literal["global_avg_pool"]


class GlobalMaxPool(_Strict):
    type: Literal["global_max_pool"]


class Flatten(_Strict):
    type: Literal["flatten"]


class Dense(_Strict):
    type: Literal["dense"]
    units: int = Field(gt=0)
    activation: Activation = "relu"


class Dropout(_Strict):
    type: Literal["dropout"]
    rate: float = Field(ge=0, lt=1)


class BatchNorm(_Strict):
    type: Literal["batch_norm"]


LayerSpec = Annotated[
    Union[Conv2D, MaxPool, AvgPool, GlobalAvgPool, GlobalMaxPool, Flatten, Dense, Dropout, BatchNorm],
    Field(discriminator="type"),
]


# --- heads ------------------------------------------------------------------------------

HeadKind = Literal["regression", "classification", "binary"]

LOSSES_BY_KIND: dict[str, tuple[str, ...]] = {
    "regression": ("mse", "mae", "huber", "log_cosh"),
    "classification": ("sparse_categorical_crossentropy",),
    "binary": ("binary_crossentropy",),
}
METRICS_BY_KIND: dict[str, tuple[str, ...]] = {
    "regression": ("mae", "mse", "rmse"),
    "classification": ("accuracy",),
    "binary": ("accuracy",),
}
DEFAULT_LOSS = {"regression": "mse", "classification": "sparse_categorical_crossentropy",
                "binary": "binary_crossentropy"}
DEFAULT_METRIC = {"regression": "mae", "classification": "accuracy", "binary": "accuracy"}


class HeadSpec(_Strict):
    name: str = Field(pattern=r"^[A-Za-z][A-Za-z0-9_]{0,31}$")
    kind: HeadKind = "regression"
    target: str | None = None  # which target of the data source; defaults to the head's name
    hidden: list[Annotated[int, Field(gt=0)]] = Field(default_factory=list)
    units: int | None = Field(default=None, gt=0)
    loss: str | None = None
    metric: str | None = None
    weight: NonNegFloat = 1.0
    learning_rate: PositiveFloat = 1e-3
    loss_scale: PositiveFloat = 1.0  # multiplies the loss: the "what if this loss were 1000x" knob

    @model_validator(mode="after")
    def _fill_and_check(self) -> "HeadSpec":
        loss = self.loss or DEFAULT_LOSS[self.kind]
        if loss not in LOSSES_BY_KIND[self.kind]:
            raise ValueError(f"loss {loss!r} does not fit a {self.kind} head; "
                             f"use one of {', '.join(LOSSES_BY_KIND[self.kind])}")
        metric = self.metric or DEFAULT_METRIC[self.kind]
        if metric not in METRICS_BY_KIND[self.kind]:
            raise ValueError(f"metric {metric!r} does not fit a {self.kind} head; "
                             f"use one of {', '.join(METRICS_BY_KIND[self.kind])}")
        units = self.units
        if self.kind == "classification":
            if units is None or units < 2:
                raise ValueError("a classification head needs units >= 2 (the number of classes)")
        elif units is None:
            units = 1
        elif self.kind == "binary" and units != 1:
            raise ValueError("a binary head has units = 1")
        object.__setattr__(self, "loss", loss)
        object.__setattr__(self, "metric", metric)
        object.__setattr__(self, "units", units)
        return self

    @property
    def target_name(self) -> str:
        return self.target or self.name


class ModelSpec(_Strict):
    input_shape: tuple[Annotated[int, Field(gt=0)], ...] = Field(min_length=1, max_length=3)
    trunk: list[LayerSpec] = Field(min_length=1)
    heads: list[HeadSpec] = Field(min_length=1)

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
    def _check_trunk_shapes(self) -> "ModelSpec":
        check_trunk_shapes(self.input_shape, self.trunk)
        return self

    def head(self, name: str) -> HeadSpec:
        for head in self.heads:
            if head.name == name:
                return head
        raise KeyError(name)

    @property
    def head_names(self) -> list[str]:
        return [h.name for h in self.heads]


def check_trunk_shapes(input_shape: tuple[int, ...], trunk: list[Any]) -> None:
    """Walk the trunk's shapes so a kernel larger than its input is refused before Keras sees it."""
    shape = list(input_shape)
    for i, layer in enumerate(trunk):
        where = f"trunk[{i}] ({layer.type})"
        spatial = len(shape) == 3
        if layer.type in ("conv2d", "max_pool", "avg_pool", "global_avg_pool", "global_max_pool"):
            if not spatial:
                raise ValueError(f"{where} needs an image input (height, width, channels); got {tuple(shape)}")
        if layer.type == "conv2d":
            k, s = layer.kernel_size, layer.strides
            if layer.padding == "valid":
                if k > min(shape[:2]):
                    raise ValueError(f"{where}: kernel {k} is larger than its input {shape[0]}x{shape[1]}")
                shape = [(shape[0] - k) // s + 1, (shape[1] - k) // s + 1, layer.filters]
            else:
                shape = [math.ceil(shape[0] / s), math.ceil(shape[1] / s), layer.filters]
        elif layer.type in ("max_pool", "avg_pool"):
            if layer.pool_size > min(shape[:2]):
                raise ValueError(f"{where}: pool {layer.pool_size} is larger than its input {shape[0]}x{shape[1]}")
            shape = [shape[0] // layer.pool_size, shape[1] // layer.pool_size, shape[2]]
        elif layer.type in ("global_avg_pool", "global_max_pool"):
            shape = [shape[2]]
        elif layer.type == "flatten":
            shape = [math.prod(shape)]
        elif layer.type == "dense":
            shape = shape[:-1] + [layer.units]


# --- data -------------------------------------------------------------------------------


class ShapesData(_Strict):
    """Procedurally drawn shapes; targets: shape (3 classes), size, x, y, intensity, bright (binary)."""

    source: Literal["shapes"]
    image_size: int = Field(default=16, ge=8, le=512)
    samples: int = Field(default=4096, ge=16)
    noise: NonNegFloat = 0.05
    target_scales: dict[str, PositiveFloat] = Field(default_factory=dict)


class DigitsData(_Strict):
    """Pairs of scikit-learn's bundled 8x8 digits side by side; targets: left, right, sum."""

    source: Literal["digits"]
    samples: int = Field(default=4096, ge=16)


class NpzData(_Strict):
    """A user file with an array `x` and one array per head target."""

    source: Literal["npz"]
    path: str


class CsvImagesData(_Strict):
    """Images listed in a CSV file: a column of image paths and one column per head target.

    Images (PNG, JPEG, GIF, BMP) are decoded and resized to model.input_shape by tf.data, in parallel.
    """

    source: Literal["csv_images"]
    csv: str = Field(min_length=1)  # relative to the preset file's folder
    path_column: str = Field(default="path", min_length=1)  # image paths, relative to the CSV's folder
    columns: dict[str, str] = Field(default_factory=dict)  # head target -> CSV column (default: same name)
    # decode every image once when the data is built, so a broken file is named by row before training
    check_images: bool = True


class _OverlaidItemsData(_Strict):
    """Two 28x28 items overlaid on a 36x36 canvas (Sabour et al. 2017; Sener & Koltun 2018)."""

    samples: int = Field(default=20000, ge=16)
    max_shift: int = Field(default=4, ge=0, le=4)  # pixels each item moves from the centre


class MultiMnistData(_OverlaidItemsData):
    """MultiMNIST from keras.datasets.mnist: targets left (top-left digit) and right (bottom-right)."""

    source: Literal["multi_mnist"]


class MultiFashionData(_OverlaidItemsData):
    """MultiFashion from keras.datasets.fashion_mnist: targets left and right (10 classes each)."""

    source: Literal["multi_fashion"]


class DataSpec(_Strict):
    validation_split: float = Field(default=0.2, gt=0, lt=1)
    seed: int = Field(default=0, ge=0, le=2**32 - 1)  # Keras seeds numpy, which takes 0 .. 2**32-1
    shuffle: bool = True
    source: Literal["shapes", "digits", "npz", "csv_images", "multi_mnist", "multi_fashion"]
    params: dict[str, Any] = Field(default_factory=dict)

    @field_validator("params")
    @classmethod
    def _check_params(cls, params: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        # A field validator (not a model one) so that errors are located at data.params.<key>.
        if "source" in params:
            raise ValueError("'source' belongs in [data], not in data.params")
        source = info.data.get("source")
        if source is not None:  # else the source itself is invalid and reported
            _SOURCE_SPECS[source].model_validate({"source": source, **params})
        return params

    @property
    def source_spec(self) -> ShapesData | DigitsData | NpzData | CsvImagesData | MultiMnistData | MultiFashionData:
        return _SOURCE_SPECS[self.source].model_validate({"source": self.source, **self.params})


_SOURCE_SPECS = {"shapes": ShapesData, "digits": DigitsData, "npz": NpzData, "csv_images": CsvImagesData,
                 "multi_mnist": MultiMnistData, "multi_fashion": MultiFashionData}
# the targets each built-in source draws (tui_mtl.data.shapes / .digits / .multi_mnist; kept here so no
# numpy is needed); a file source's columns or arrays are checked when it is loaded
SOURCE_TARGETS = {"shapes": ("shape", "size", "x", "y", "intensity", "bright"), "digits": ("left", "right", "sum"),
                  "multi_mnist": ("left", "right"), "multi_fashion": ("left", "right")}


# --- training ---------------------------------------------------------------------------


class AdamSpec(_Strict):
    name: Literal["adam"] = "adam"
    beta_1: float = Field(default=0.9, ge=0, lt=1)
    beta_2: float = Field(default=0.999, ge=0, lt=1)
    epsilon: PositiveFloat = 1e-7


class SGDSpec(_Strict):
    name: Literal["sgd"]
    momentum: float = Field(default=0.0, ge=0, lt=1)
    nesterov: bool = False


class RMSpropSpec(_Strict):
    name: Literal["rmsprop"]
    rho: float = Field(default=0.9, gt=0, lt=1)
    momentum: float = Field(default=0.0, ge=0, lt=1)
    epsilon: PositiveFloat = 1e-7


OptimizerSpec = Annotated[Union[AdamSpec, SGDSpec, RMSpropSpec], Field(discriminator="name")]


class TrainingSpec(_Strict):
    batch_size: int = Field(default=32, gt=0, le=65536)
    steps: int = Field(default=2000, gt=0)
    optimizer: OptimizerSpec = Field(default_factory=AdamSpec)
    trunk_learning_rate: PositiveFloat = 1e-3
    validate_every: int = Field(default=100, gt=0)
    validation_batches: int = Field(default=4, gt=0)
    # per-head trunk gradient diagnostics every N steps (0: never); costs K backward passes under summed
    diagnostics_every: int = Field(default=25, ge=0)


class StrategySpec(_Strict):
    name: str = "summed"
    params: dict[str, Any] = Field(default_factory=dict)

    @field_validator("name")
    @classmethod
    def _known(cls, name: str) -> str:
        parse_strategy_name(name)
        return name


class Preset(_Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
    description: str = ""
    model: ModelSpec
    data: DataSpec
    training: TrainingSpec = Field(default_factory=TrainingSpec)
    strategy: StrategySpec = Field(default_factory=StrategySpec)

    @model_validator(mode="after")
    def _check_data_fits_model(self) -> "Preset":
        spec = self.data.source_spec
        if isinstance(spec, ShapesData) and list(self.model.input_shape) != [spec.image_size, spec.image_size, 1]:
            raise ValueError(f"model.input_shape {list(self.model.input_shape)} does not match the shapes "
                             f"source's images [{spec.image_size}, {spec.image_size}, 1]")
        if isinstance(spec, DigitsData) and list(self.model.input_shape) != [8, 16, 1]:
            raise ValueError(f"model.input_shape {list(self.model.input_shape)} does not match the digits "
                             f"source's images [8, 16, 1]")
        known = SOURCE_TARGETS.get(spec.source)  # an npz file's arrays are checked when it is loaded
        for i, head in enumerate(self.model.heads):
            if known and head.target_name not in known:
                raise ValueError(f"model.heads[{i}]: head {head.name!r} wants target {head.target_name!r}, which "
                                 f"the {spec.source} source does not have (it has: {', '.join(known)}; "
                                 f"set target = ... to pick one)")
        return self

    def with_absolute_paths(self, base_dir: Path) -> "Preset":
        """The same preset with its data files' paths made absolute (relative ones are relative to
        `base_dir`, the preset file's folder), so a copy saved elsewhere (a run folder) still finds them."""
        key = {"npz": "path", "csv_images": "csv"}.get(self.data.source)
        if key is None or key not in self.data.params:
            return self
        path = Path(self.data.params[key]).expanduser()
        if path.is_absolute():
            return self
        return self.with_changes(data={"params": {key: str((Path(base_dir) / path).resolve())}})

    def with_changes(self, **changes: Any) -> "Preset":
        """A validated copy with nested changes, e.g. with_changes(name="x", strategy={"name": "grouped"})."""
        data = self.model_dump(mode="json")
        _deep_update(data, changes)
        return Preset.model_validate(data)

    def to_toml(self) -> str:
        return tomli_w.dumps(self.model_dump(mode="json", exclude_none=True))


def _deep_update(base: dict, changes: dict) -> None:
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict) and not _switches_kind(base[key], value):
            _deep_update(base[key], value)
        else:
            base[key] = value


def _switches_kind(old: dict, new: dict) -> bool:
    """A change of discriminator (optimizer name, data source) replaces the table: old fields don't fit."""
    return any(k in new and new[k] != old.get(k) for k in ("name", "source", "type"))


# --- reading, finding, writing -----------------------------------------------------------


def format_validation_error(err: ValidationError) -> str:
    first = err.errors()[0]
    loc = ""
    for part in first["loc"]:
        if isinstance(part, int):
            loc += f"[{part}]"
        elif part in ("function-after",) or str(part).startswith(("function-", "tagged-union")):
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
    return parse_preset(text, str(path))


def shipped_presets_dir() -> Path:
    installed = Path(__file__).parent / "_shipped_presets"
    if installed.is_dir():
        return installed
    return Path(__file__).resolve().parent.parent / "presets"  # a source checkout


def user_presets_dir() -> Path:
    override = os.environ.get(PRESETS_ENV)
    if override:
        return Path(override).expanduser()
    import platformdirs

    return Path(platformdirs.user_config_dir("tui-mtl")) / "presets"


def preset_files() -> list[tuple[str, Path]]:
    """(origin, path) for every preset file; user presets shadow shipped ones of the same name."""
    found: dict[str, tuple[str, Path]] = {}
    for origin, folder in (("shipped", shipped_presets_dir()), ("user", user_presets_dir())):
        if folder.is_dir():
            for path in sorted(folder.glob("*.toml")):
                found[path.stem] = (origin, path)
    return sorted(found.values(), key=lambda item: (item[0] != "shipped", item[1].stem))


def find_preset_path(name_or_path: str) -> Path:
    candidate = Path(name_or_path).expanduser()
    looks_like_path = candidate.suffix == ".toml" or os.sep in name_or_path
    if looks_like_path and candidate.is_file():
        return candidate
    if os.sep not in name_or_path:  # names may end in ".toml" too: a preset saved as "exp.toml"
        for _origin, path in reversed(preset_files()):
            if path.stem == name_or_path:
                return path
    if looks_like_path:
        raise PresetError(f"{name_or_path}: no such preset file")
    names = ", ".join(p.stem for _o, p in preset_files()) or "none"
    raise PresetError(f"unknown preset {name_or_path!r} (known: {names})")


def load_preset(name_or_path: str | Path) -> Preset:
    return read_preset(find_preset_path(str(name_or_path)))


def save_user_preset(preset: Preset, *, overwrite: bool = False) -> Path:
    """Write atomically to the user's preset folder; refuse to replace a file unless asked."""
    folder = user_presets_dir()
    path = folder / f"{preset.name}.toml"
    if path.exists() and not overwrite:
        raise FileExistsError(path)
    atomic_write_text(path, preset.to_toml())
    return path


__all__ = [
    "Preset", "ModelSpec", "HeadSpec", "DataSpec", "TrainingSpec", "StrategySpec", "STRATEGY_NAMES",
    "parse_preset", "read_preset", "load_preset", "find_preset_path", "preset_files",
    "save_user_preset", "shipped_presets_dir", "user_presets_dir",
]
