"""A preset's model described in words and a parameter count, without TensorFlow.

The count walks the same layers `tui_mtl.model.build_model` builds (including the Flatten it adds
when the trunk ends on a feature map), so the picker can show it before Keras is loaded.
"""

from __future__ import annotations

import math

from tui_mtl.presets import Preset


def _layer_params(layer, shape: list[int]) -> tuple[int, list[int]]:
    kind = layer.type
    if kind == "conv2d":
        k, s = layer.kernel_size, layer.strides
        params = k * k * shape[-1] * layer.filters + layer.filters
        if layer.padding == "valid":
            out = [(shape[0] - k) // s + 1, (shape[1] - k) // s + 1, layer.filters]
        else:
            out = [math.ceil(shape[0] / s), math.ceil(shape[1] / s), layer.filters]
        return params, out
    if kind in ("max_pool", "avg_pool"):
        return 0, [shape[0] // layer.pool_size, shape[1] // layer.pool_size, shape[2]]
    if kind in ("global_avg_pool", "global_max_pool"):
        return 0, [shape[-1]]
    if kind == "flatten":
        return 0, [math.prod(shape)]
    if kind == "dense":
        return shape[-1] * layer.units + layer.units, shape[:-1] + [layer.units]
    if kind == "batch_norm":
        return 4 * shape[-1], shape  # gamma, beta, moving mean and variance
    return 0, shape  # dropout


def count_params(preset: Preset) -> int:
    """Total parameters of the model the preset builds (trainable and not)."""
    shape = list(preset.model.input_shape)
    total = 0
    for layer in preset.model.trunk:
        params, shape = _layer_params(layer, shape)
        total += params
    features = math.prod(shape)
    for head in preset.model.heads:
        width = features
        for units in head.hidden:
            total += width * units + units
            width = units
        total += width * head.units + head.units
    return total


def trunk_text(preset: Preset) -> str:
    parts = []
    for layer in preset.model.trunk:
        if layer.type == "conv2d":
            parts.append(f"conv{layer.kernel_size}×{layer.kernel_size}·{layer.filters}")
        elif layer.type in ("max_pool", "avg_pool"):
            parts.append(f"{layer.type.split('_')[0]}pool{layer.pool_size}")
        elif layer.type == "dense":
            parts.append(f"dense{layer.units}")
        elif layer.type == "dropout":
            parts.append(f"dropout{layer.rate:g}")
        else:
            parts.append(layer.type.replace("_", ""))
    return " → ".join(parts)


def head_lines(preset: Preset) -> list[str]:
    lines = []
    for head in preset.model.heads:
        hidden = f" hidden {head.hidden}" if head.hidden else ""
        units = f"{head.units} classes" if head.kind == "classification" else head.kind
        lines.append(f"{head.name}: {units}, loss {head.loss}, metric {head.metric}, "
                     f"weight {head.weight:g}, lr {head.learning_rate:g}{hidden}")
    return lines


def data_text(preset: Preset) -> str:
    params = ", ".join(f"{k}={v}" for k, v in preset.data.params.items())
    return f"{preset.data.source}" + (f" ({params})" if params else "")


def summary_rows(preset: Preset) -> list[tuple[str, str]]:
    t = preset.training
    return [
        ("input", " × ".join(str(d) for d in preset.model.input_shape)),
        ("trunk", trunk_text(preset)),
        ("heads", "\n".join(head_lines(preset))),
        ("params", f"{count_params(preset):,}"),
        ("data", data_text(preset)),
        ("training", f"{t.steps:,} steps, batch {t.batch_size}, {t.optimizer.name}, "
                     f"trunk lr {t.trunk_learning_rate:g}, validate every {t.validate_every}"),
        ("strategy", preset.strategy.name),
    ]


def describe(preset: Preset) -> str:
    """Plain text: the name, the description and the summary rows."""
    lines = [preset.name, preset.description or "(no description)", ""]
    lines += [f"{label:<9} {value}" for label, value in summary_rows(preset)]
    return "\n".join(lines)


def describe_renderable(preset: Preset, footer: str = ""):
    """The picker's detail pane: labels in one column, values wrapping in the other."""
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold", no_wrap=True)
    table.add_column()
    for label, value in summary_rows(preset):
        table.add_row(label, value)
    parts = [Text(preset.name, style="bold"),
             Text(preset.description or "(no description)", style="" if preset.description else "dim"),
             Text(""), table]
    if footer:
        parts += [Text(""), Text(footer, style="dim")]
    return Group(*parts)
