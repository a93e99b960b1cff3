"""Hard parameter sharing: one trunk, every head on its output."""

from __future__ import annotations

from tui_mtl.architectures.parts import Parts


def build(arch, parts: Parts, inputs, heads: list[str]) -> dict:
    z = parts.trunk_copy(inputs)
    return {head: z for head in heads}
