"""[data]: where the samples come from. Each source has its own parameter model (data.params)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, Union

from pydantic import Field, ValidationInfo, field_validator

from tui_mtl.presets.layers import Strict
from tui_mtl.presets.model_source import SourceKind, parse_model_source
from tui_mtl.presets.numbers import NonNegFloat, PositiveFloat


class ShapesData(Strict):
    """Procedurally drawn shapes; targets: shape (3 classes), size, x, y, intensity, bright (binary)."""

    source: Literal["shapes"]
    image_size: int = Field(default=16, ge=8, le=512)
    samples: int = Field(default=4096, ge=16)
    noise: NonNegFloat = 0.05
    target_scales: dict[str, PositiveFloat] = Field(default_factory=dict)

    def input_shape(self) -> tuple[int, ...] | None:
        return (self.image_size, self.image_size, 1)


class DigitsData(Strict):
    """Pairs of scikit-learn's bundled 8x8 digits side by side; targets: left, right, sum."""

    source: Literal["digits"]
    samples: int = Field(default=4096, ge=16)

    def input_shape(self) -> tuple[int, ...] | None:
        return (8, 16, 1)


class NpzData(Strict):
    """A user file with an array `x` and one array per head target."""

    source: Literal["npz"]
    path: str

    def input_shape(self) -> tuple[int, ...] | None:
        return None

    def files(self) -> dict[str, str]:
        return {"path": self.path}


class CsvImagesData(Strict):
    """Images listed in a CSV file: a column of image paths and one column per head target.

    Images (PNG, JPEG, GIF, BMP) are decoded and resized to model.input_shape by tf.data, in parallel.
    """

    source: Literal["csv_images"]
    csv: str = Field(min_length=1)  # relative to the preset file's folder
    path_column: str = Field(default="path", min_length=1)  # image paths, relative to the CSV's folder
    columns: dict[str, str] = Field(default_factory=dict)  # head target -> CSV column (default: same name)
    # decode every image once when the data is built, so a broken file is named by row before training
    check_images: bool = True

    def input_shape(self) -> tuple[int, ...] | None:
        return None

    def files(self) -> dict[str, str]:
        return {"csv": self.csv}


class ImageFolderData(Strict):
    """Keras' convention (image_dataset_from_directory): one subfolder per class of one classification
    head, and optionally a CSV of per-image targets for the other heads."""

    source: Literal["image_folder"]
    folder: str = Field(min_length=1)  # relative to the preset file's folder
    head: str | None = None  # the classification head the subfolders label (default: the only one)
    targets_csv: str | None = None  # relative to the preset's folder; a path column relative to `folder`
    path_column: str = Field(default="path", min_length=1)
    check_images: bool = True

    def input_shape(self) -> tuple[int, ...] | None:
        return None

    def files(self) -> dict[str, str]:
        return {"targets_csv": self.targets_csv} if self.targets_csv else {}

    def folders(self) -> dict[str, str]:
        return {"folder": self.folder}


class _OverlaidItemsData(Strict):
    """Two 28x28 items overlaid on a 36x36 canvas (Sabour et al. 2017; Sener & Koltun 2018)."""

    samples: int = Field(default=20000, ge=16)
    max_shift: int = Field(default=4, ge=0, le=4)  # pixels each item moves from the centre

    def input_shape(self) -> tuple[int, ...] | None:
        return None  # resized to the model's input


class MultiMnistData(_OverlaidItemsData):
    """MultiMNIST from keras.datasets.mnist: targets left (top-left digit) and right (bottom-right)."""

    source: Literal["multi_mnist"]


class MultiFashionData(_OverlaidItemsData):
    """MultiFashion from keras.datasets.fashion_mnist: targets left and right (10 classes each)."""

    source: Literal["multi_fashion"]


class FunctionData(Strict):
    """A user's function ('package.module:make' or 'file.py:make', called with `args`) returning
    (x, {target: y}) arrays or a tf.data.Dataset of such elements, read once into memory."""

    source: Literal["function"]
    function: str  # or IN_MEMORY: the arrays or Dataset a Session.from_model was handed
    args: dict[str, Any] = Field(default_factory=dict)

    @field_validator("function")
    @classmethod
    def _a_function(cls, function: str) -> str:
        kind = parse_model_source(function).kind
        if kind is SourceKind.FILE:
            raise ValueError(f"{function!r} is a file; name a function: 'package.module:make' or 'file.py:make'")
        return function

    def input_shape(self) -> tuple[int, ...] | None:
        return None


SourceSpec = Union[ShapesData, DigitsData, NpzData, CsvImagesData, ImageFolderData, MultiMnistData, MultiFashionData,
                   FunctionData]
SOURCE_SPECS: dict[str, type[SourceSpec]] = {
    "shapes": ShapesData, "digits": DigitsData, "npz": NpzData, "csv_images": CsvImagesData,
    "image_folder": ImageFolderData, "multi_mnist": MultiMnistData, "multi_fashion": MultiFashionData,
    "function": FunctionData,
}
# the targets each built-in source draws (tui_mtl.data.shapes / .digits / .multi_mnist; kept here so no
# numpy is needed); a file source's columns or arrays are checked when it is loaded
SOURCE_TARGETS = {"shapes": ("shape", "size", "x", "y", "intensity", "bright"), "digits": ("left", "right", "sum"),
                  "multi_mnist": ("left", "right"), "multi_fashion": ("left", "right")}


class DataSpec(Strict):
    validation_split: float = Field(default=0.2, gt=0, lt=1)
    seed: int = Field(default=0, ge=0, le=2**32 - 1)  # Keras seeds numpy, which takes 0 .. 2**32-1
    shuffle: bool = True
    # the training order's own seed (default: `seed`), so seeds can differ in order alone
    order_seed: int | None = Field(default=None, ge=0, le=2**32 - 1)
    source: Literal["shapes", "digits", "npz", "csv_images", "image_folder", "multi_mnist", "multi_fashion",
                    "function"]
    params: dict[str, Any] = Field(default_factory=dict)

    @field_validator("params")
    @classmethod
    def _check_params(cls, params: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        # A field validator (not a model one) so that errors are located at data.params.<key>.
        if "source" in params:
            raise ValueError("'source' belongs in [data], not in data.params")
        source = info.data.get("source")
        if source is not None:  # else the source itself is invalid and reported
            SOURCE_SPECS[source].model_validate({"source": source, **params})
        return params

    @property
    def source_spec(self) -> SourceSpec:
        return SOURCE_SPECS[self.source].model_validate({"source": self.source, **self.params})

    def files(self) -> dict[str, Path]:
        """The data files this spec names, keyed by parameter (paths as written: maybe relative)."""
        spec = self.source_spec
        named = spec.files() if isinstance(spec, (NpzData, CsvImagesData, ImageFolderData)) else {}
        return {key: Path(value).expanduser() for key, value in named.items()}

    def folders(self) -> dict[str, Path]:
        """The data folders this spec names, keyed by parameter (paths as written: maybe relative)."""
        spec = self.source_spec
        named = spec.folders() if isinstance(spec, ImageFolderData) else {}
        return {key: Path(value).expanduser() for key, value in named.items()}
