"""Cross-stitch networks (Misra et al. 2016): a trunk column per head; after every layer with weights
a cross-stitch unit makes each column a learned combination of all of them."""

from __future__ import annotations

from tui_mtl.architectures.layers import CrossStitchUnit
from tui_mtl.architectures.parts import Parts


def build(arch, parts: Parts, inputs, heads: list[str]) -> dict:
    columns = [inputs for _ in heads]
    shape = tuple(inputs.shape[1:])
    for i, spec in enumerate(parts.trunk):
        columns = [parts.trunk_layer(i, x, f"_c{j}") for j, x in enumerate(columns)]
        if spec.param_count(shape) > 0 and len(heads) > 1:
            columns = parts.add(CrossStitchUnit(arch.keep, name=f"stitch_{i}"))(columns)
        shape = spec.output_shape(shape)
    return {head: parts.flat(x, f"_c{j}") for j, (head, x) in enumerate(zip(heads, columns))}
