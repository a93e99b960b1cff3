"""A preset described in words and a parameter count, without TensorFlow (the picker's detail pane).

The count and the layer names come from the layer specs themselves (`tui_mtl.presets.layers`), the
same definitions the model builder uses.
"""

from __future__ import annotations

from tui_mtl.presets import Preset
from tui_mtl.strategies.catalog import parse_strategy


def count_params(preset: Preset) -> int | None:
    """Total parameters of the model the preset builds (trainable and not); None for a user's own
    model (`from`), counted only when it is built."""
    return None if preset.model.imported else preset.model.param_count()


def trunk_text(preset: Preset) -> str:
    model = preset.model
    if model.source is not None:
        args = ", ".join(f"{k}={v!r}" for k, v in model.args.items())
        return f"your model: {model.source}" + (f" ({args})" if args else "") + "; trunk found from its graph"
    layers = " → ".join(layer.short() for layer in model.trunk)
    if model.architecture.type == "hard":
        return layers
    return f"{model.architecture.short(len(model.heads))}, each: {layers}"


def head_lines(preset: Preset) -> list[str]:
    return [head.summary() for head in preset.model.heads]


def data_text(preset: Preset) -> str:
    params = ", ".join(f"{k}={v}" for k, v in preset.data.params.items())
    return f"{preset.data.source}" + (f" ({params})" if params else "")


def strategy_text(preset: Preset) -> str:
    parsed = preset.strategy.parsed
    tables = [f"{kind.value} {params.model_dump(exclude_defaults=True)}"
              for kind, params in ((k, preset.strategy.component_params()[c.name])
                                   for k, c in parsed.components().items())
              if params.model_dump(exclude_defaults=True)]
    return parse_strategy(preset.strategy.name).canonical + (f" ({'; '.join(tables)})" if tables else "")


def summary_rows(preset: Preset) -> list[tuple[str, str]]:
    t = preset.training
    shape, count = preset.model.input_shape, count_params(preset)
    rows = [
        ("input", " × ".join(str(d) for d in shape) if shape is not None else "the model's"),
        ("trunk", trunk_text(preset)),
        ("heads", "\n".join(head_lines(preset))),
        ("params", f"{count:,}" if count is not None else "counted when the model is built"),
        ("data", data_text(preset)),
        ("training", f"{t.steps:,} steps, batch {t.batch_size}, {t.optimizer.name}, "
                     f"trunk lr {t.trunk_learning_rate:g}, validate every {t.validate_every}"),
        ("strategy", strategy_text(preset)),
    ]
    display = preset.display
    if display.log_scale or display.smoothing:
        rows.append(("display", ", ".join(part for part in ("log scale" if display.log_scale else "",
                                                            f"smoothing {display.smoothing:g}" if display.smoothing
                                                            else "") if part)))
    return rows


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
