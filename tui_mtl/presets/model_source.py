"""`[model] from = ...`: where a user's own Keras model comes from (read without TensorFlow).

Three forms:
  "path/to/model.keras"        a saved Keras model (relative to the preset file's folder)
  "package.module:build"       a function returning a keras.Model, imported from the preset's folder
  "path/to/models.py:build"    or the Python path; the same from a file
and the one a preset gets from `Session.from_model` (IN_MEMORY), which only that session can build.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from pathlib import Path

IN_MEMORY = "<python object>"
MODEL_FILE_SUFFIXES = (".keras", ".h5")
_MODULE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class SourceKind(enum.Enum):
    FILE = "file"  # a saved model
    FUNCTION = "function"  # module or .py file, and the name of a function in it
    IN_MEMORY = "in_memory"  # a keras.Model handed to Session.from_model


@dataclass(frozen=True)
class ModelSource:
    kind: SourceKind
    location: str = ""  # the file (FILE, or FUNCTION from a .py file) or the dotted module
    function: str = ""

    @property
    def from_file(self) -> bool:
        """The location is a path (made absolute when a preset is copied elsewhere)."""
        return self.kind is SourceKind.FILE or self.location.endswith(".py")

    def text(self, location: str | None = None) -> str:
        where = self.location if location is None else location
        if self.kind is SourceKind.FILE:
            return where
        if self.kind is SourceKind.FUNCTION:
            return f"{where}:{self.function}"
        return IN_MEMORY


def parse_model_source(text: str) -> ModelSource:
    """ValueError saying which forms exist when `text` is none of them."""
    text = text.strip()
    if text == IN_MEMORY:
        return ModelSource(SourceKind.IN_MEMORY)
    if text.endswith(MODEL_FILE_SUFFIXES):
        return ModelSource(SourceKind.FILE, text)
    where, sep, function = text.rpartition(":")
    if sep and _NAME.match(function) and (where.endswith(".py") or _MODULE.match(where)):
        return ModelSource(SourceKind.FUNCTION, where, function)
    raise ValueError(f"{text!r} is neither a saved model (a .keras file) nor a function "
                     f"('package.module:build' or 'file.py:build')")


def absolute_source(text: str, base_dir: Path) -> str:
    """The same source with its path made absolute (relative to `base_dir`, the preset's folder); a
    module found in that folder becomes its file, so a copy of the preset elsewhere still finds it."""
    source = parse_model_source(text)
    if source.kind is SourceKind.IN_MEMORY:
        return text
    if source.from_file:
        path = Path(source.location).expanduser()
        return source.text(str(path if path.is_absolute() else (base_dir / path).resolve()))
    module_file = Path(base_dir, *source.location.split(".")).with_suffix(".py")
    return source.text(str(module_file.resolve())) if module_file.is_file() else text
