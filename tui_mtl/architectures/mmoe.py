"""MMoE (Ma et al. 2018): E experts (trunk copies) shared by every head; head i's input is
sum_e gate_i(x)_e * expert_e(x), gate_i a softmax over the experts read from the input."""

from __future__ import annotations

from tui_mtl.architectures.layers import GatedMixture
from tui_mtl.architectures.parts import Parts


def build(arch, parts: Parts, inputs, heads: list[str]) -> dict:
    experts = [parts.trunk_copy(inputs, f"_e{e}") for e in range(arch.experts)]
    return {head: parts.add(GatedMixture(name=f"mix_{head}"))([parts.gate(inputs, arch.experts, f"gate_{head}"),
                                                                 *experts])
            for head in heads}
