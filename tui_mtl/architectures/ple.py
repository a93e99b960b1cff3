"""CGC and PLE (Tang et al. 2020). A level has `shared` experts and `per_head` experts of each head's
own; head i's gate mixes the shared experts and its own, read from head i's path. Below the top
level a shared gate mixes every expert into the next level's shared path. Level 1's experts are
trunk copies on the input; higher levels' are dense layers of the trunk's width. CGC is one level."""

from __future__ import annotations

import keras

from tui_mtl.architectures.layers import GatedMixture
from tui_mtl.architectures.parts import Parts


def build(arch, parts: Parts, inputs, heads: list[str]) -> dict:
    paths = {head: inputs for head in heads}
    shared_path = inputs
    for level in range(arch.levels):
        def expert(x, tag, level=level):
            if level == 0:
                return parts.trunk_copy(x, f"_l0{tag}")
            width = x.shape[-1]
            return parts.add(keras.layers.Dense(width, activation="relu", name=f"expert_l{level}{tag}"))(x)

        shared = [expert(shared_path, f"_s{e}") for e in range(arch.shared)]
        own = {head: [expert(paths[head], f"_{head}{e}") for e in range(arch.per_head)] for head in heads}
        mixed = {}
        for head in heads:
            chosen = [*shared, *own[head]]
            gate = parts.gate(paths[head], len(chosen), f"gate_l{level}_{head}")
            mixed[head] = parts.add(GatedMixture(name=f"mix_l{level}_{head}"))([gate, *chosen])
        if level < arch.levels - 1:
            every = [*shared, *(e for head in heads for e in own[head])]
            gate = parts.gate(shared_path, len(every), f"gate_l{level}_shared")
            shared_path = parts.add(GatedMixture(name=f"mix_l{level}_shared"))([gate, *every])
        paths = mixed
    return paths
