"""A user's own Keras model (`[model] from = ...`): loaded or built, then checked against the heads.

The model's outputs are matched to the preset's heads by name; which variables are the trunk's and
which a head's is read from the graph (`tui_mtl.model.split_variables`).
"""

from __future__ import annotations

from pathlib import Path

import keras

from tui_mtl.errors import PresetError
from tui_mtl.presets import ModelSpec
from tui_mtl.presets.model_source import ModelSource, SourceKind
from tui_mtl.user_code import call, one_line, resolve


def load_source(spec: ModelSpec, base_dir: Path | None) -> keras.Model:
    """The keras.Model that `from` names; PresetError (the loader's own message kept) when it cannot be had."""
    source = spec.imported_source()
    if source.kind is SourceKind.IN_MEMORY:
        raise PresetError("model.from: this preset's model was handed to Session.from_model in Python and cannot "
                          "be rebuilt from the preset; save it (model.save('model.keras')) and set "
                          "from = 'model.keras'")
    if source.kind is SourceKind.FILE:
        return _load_file(resolve(source.location, base_dir))
    return _call(source, spec.args, base_dir)


def _load_file(path: Path) -> keras.Model:
    if not path.is_file():
        raise PresetError(f"model.from: no such file {path}")
    try:
        return keras.saving.load_model(path, compile=False)
    except Exception as err:  # whatever the file holds: the loader's own words, on one line
        raise PresetError(f"model.from: {path} does not load: {one_line(err)}") from None


def _call(source: ModelSource, args: dict, base_dir: Path | None) -> keras.Model:
    model = call(source, args, base_dir, "model.from")
    if not isinstance(model, keras.Model):
        raise PresetError(f"model.from: {source.text()} returned {type(model).__name__}, not a keras.Model")
    return model


# --- checked against the preset's heads -----------------------------------------------------

def named_outputs(model: keras.Model) -> dict:
    """The model's symbolic outputs by name (a dict model's keys, else its output layers' names)."""
    if not model.inputs:
        raise PresetError("model.from: the model has no symbolic inputs: use a functional keras.Model (a "
                          "subclassed model cannot be split into trunk and heads)")
    output = model.output
    if isinstance(output, dict):
        return dict(output)
    outputs = model.outputs
    return dict(zip(model.output_names, outputs))


def check_against_heads(spec: ModelSpec, model: keras.Model) -> dict:
    """The model's outputs keyed by head; PresetError naming the head, output or input that does not fit."""
    if len(model.inputs) != 1:
        raise PresetError(f"model.from: the model takes {len(model.inputs)} inputs; tui-mtl feeds it one (the "
                          f"data's x)")
    outputs = named_outputs(model)
    names = ", ".join(outputs) or "none"
    for i, head in enumerate(spec.heads):
        if head.name not in outputs:
            raise PresetError(f"model.heads[{i}] ({head.name}): the model has no output named {head.name!r} "
                              f"(its outputs: {names})")
    extra = [name for name in outputs if name not in spec.head_names]
    if extra:
        raise PresetError(f"model.from: the model's output {extra[0]!r} has no head (heads: "
                          f"{', '.join(spec.head_names)}); add a [[model.heads]] named {extra[0]!r} or drop the output")
    for i, head in enumerate(spec.heads):
        shape = tuple(outputs[head.name].shape)
        if len(shape) != 2 or shape[1] != head.output_units:
            what = f"{head.output_units} classes" if head.kind == "classification" else \
                f"{head.output_units} value(s)"
            raise PresetError(f"model.heads[{i}] ({head.name}): the model's output has shape {list(shape)}; a "
                              f"{head.kind} head with {what} wants [None, {head.output_units}] (set units = ...)")
    return {head: outputs[head] for head in spec.head_names}


def input_shape_of(model: keras.Model) -> tuple[int, ...]:
    shape = tuple(model.inputs[0].shape[1:])
    if any(d is None for d in shape):
        raise PresetError(f"model.from: the model's input shape {list(shape)} has an unknown dimension; give "
                          f"keras.Input a full shape (e.g. (32, 32, 3))")
    return tuple(int(d) for d in shape)
