"""Build the Keras functional model from a ModelSpec and know which variables are whose."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import keras

from tui_mtl.presets import ModelSpec


@dataclass(frozen=True)
class MultiHeadModel:
    """The Keras model plus the variable groups every strategy needs."""

    model: keras.Model
    trunk_variables: tuple  # trainable variables of the shared trunk
    head_variables: dict  # head name -> tuple of its trainable variables
    # the same layers split at the trunk's output z (MGDA-UB takes gradients with respect to z);
    # None when the heads do not share one output (mmoe, cgc, ple, cross_stitch)
    trunk_model: keras.Model | None = None  # image -> z
    heads_model: keras.Model | None = None  # z -> {head: output}

    @property
    def head_names(self) -> list[str]:
        return list(self.head_variables)


MIXED_POLICIES = {"bf16": "mixed_bfloat16", "fp16": "mixed_float16", "off": "float32"}


def build_model(spec: ModelSpec, seed: int | None = None, mixed_precision: str = "off",
                base_dir: Path | None = None, given: keras.Model | None = None) -> MultiHeadModel:
    """Functional model with one named output per head; `seed` makes the initial weights repeatable.

    `mixed_precision="bf16"` (or "fp16") computes the trunk and hidden layers in bfloat16 (float16);
    variables and head outputs stay float32. A model given with `from` (or as `given`, the model a
    Session.from_model was handed) keeps its own layers and dtypes; `base_dir` is the preset's folder.
    """
    if seed is not None:
        keras.utils.set_random_seed(seed)
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(MIXED_POLICIES[mixed_precision])
    try:
        if spec.imported:
            from tui_mtl.architectures.imported import load_source

            return imported_view(spec, given if given is not None else load_source(spec, base_dir))
        return _build(spec)
    finally:  # the policy is global in Keras: leave it as it was for whatever builds next
        keras.config.set_dtype_policy(previous)


def _build(spec: ModelSpec) -> MultiHeadModel:
    from tui_mtl.architectures.parts import Parts

    inputs = keras.Input(shape=spec.described_input_shape, name="image")
    parts = Parts(spec.trunk)
    head_inputs = spec.architecture.build(parts, inputs, spec.head_names)
    outputs, own, head_layers = {}, {}, {}
    for head in spec.heads:
        head_layers[head.name] = layers = head.build_layers()
        y = head_inputs[head.name]
        for layer in layers:
            y = layer(y)
        outputs[head.name] = y
        own[head.name] = [v for layer in layers for v in layer.trainable_variables]
    model = keras.Model(inputs, outputs, name="multi_head")
    made = [v for layer in parts.layers for v in layer.trainable_variables]
    trunk_variables, head_variables = split_variables(inputs, outputs, made, own)
    trunk_model = heads_model = None
    shared = {id(t) for t in head_inputs.values()}
    if len(shared) == 1:  # one representation z for every head (hard sharing): MGDA-UB can use it
        z = next(iter(head_inputs.values()))
        trunk_model, heads_model = keras.Model(inputs, z, name="trunk"), _heads_on(z, head_layers)
    return MultiHeadModel(model, trunk_variables, head_variables, trunk_model=trunk_model,
                          heads_model=heads_model)


def split_variables(inputs, outputs: dict, shared: list, own: dict | None = None,
                    strict: bool = False) -> tuple[tuple, dict]:
    """The trunk is every variable of `shared` that more than one head's output reaches (with one
    head: all of them); one that only head i reaches (its gate, its own experts, its own branch) is
    head i's, before its `own` layers' variables. Order: `shared`'s, so optimizers and checkpoints
    see the same order on every build.

    `strict` (a user's own model) refuses a variable that some heads reach and others do not: the
    trunk is what every head's loss reaches."""
    own = own or {head: [] for head in outputs}
    reached = {head: {id(v) for v in keras.Model(inputs, out).trainable_variables}
               for head, out in outputs.items()}
    trunk: list = []
    extra: dict[str, list] = {head: [] for head in outputs}
    for variable in shared:
        by = [head for head, ids in reached.items() if id(variable) in ids]
        if strict and 1 < len(by) < len(outputs):
            from tui_mtl.errors import PresetError

            missed = [head for head in outputs if head not in by]
            raise PresetError(f"model: variable {variable.path!r} is reached by heads {', '.join(by)} but not by "
                              f"{', '.join(missed)}; tui-mtl needs each variable shared by every head (the trunk) "
                              f"or one head's own")
        if len(by) == 1 and len(outputs) > 1:
            extra[by[0]].append(variable)
        elif by:
            trunk.append(variable)
    return tuple(trunk), {head: (*extra[head], *own[head]) for head in outputs}


def _heads_on(z, head_layers: dict) -> keras.Model:
    """The heads' layers (the same objects, so the same weights) on a new input of z's shape."""
    features = keras.Input(shape=tuple(z.shape[1:]), name="features")
    outputs = {}
    for head, layers in head_layers.items():
        y = features
        for layer in layers:
            y = layer(y)
        outputs[head] = y
    return keras.Model(features, outputs, name="heads")


def multi_head_view(model: keras.Model) -> MultiHeadModel:
    """Any functional Keras model with one named output per head, with its variables split into
    the trunk's and each head's by what each output reaches."""
    from tui_mtl.architectures.imported import named_outputs

    outputs = named_outputs(model)
    if len(outputs) < 2:
        raise ValueError(f"the model has {len(outputs)} output; a multi-task model needs one named output per head")
    return _view(model, model.inputs if len(model.inputs) > 1 else model.inputs[0], outputs)


def imported_view(spec: ModelSpec, model: keras.Model) -> MultiHeadModel:
    """A user's model checked against the preset's heads (names, output shapes, one input), split by its graph."""
    from tui_mtl.architectures.imported import check_against_heads

    return _view(model, model.inputs[0], check_against_heads(spec, model))


def _view(model: keras.Model, inputs, outputs: dict) -> MultiHeadModel:
    trunk, heads = split_variables(inputs, outputs, list(model.trainable_variables), strict=True)
    if not trunk and len(outputs) > 1:
        from tui_mtl.errors import PresetError

        raise PresetError("model: no variable is reached by every head: the heads share no trunk")
    # the same layers with the outputs as a dict by head name, whatever structure the model returns
    view = model if isinstance(model.output, dict) and list(model.output) == list(outputs) else \
        keras.Model(inputs, outputs, name=f"{model.name}_by_head")
    return MultiHeadModel(view, trunk, heads)
