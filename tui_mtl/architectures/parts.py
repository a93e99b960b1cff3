"""What an architecture builder makes, recorded in order (the model builder sorts their variables
into the trunk's and each head's)."""

from __future__ import annotations

from typing import Any

import keras

TRUNK_PREFIX = "trunk"


class Parts:
    def __init__(self, trunk: list):
        self.trunk = trunk  # the preset's layer specs: one expert, or one column
        self.layers: list = []

    def add(self, layer: Any) -> Any:
        self.layers.append(layer)
        return layer

    def trunk_layer(self, index: int, x: Any, tag: str = "") -> Any:
        """`x` through a new layer made from the trunk's spec `index`."""
        spec = self.trunk[index]
        layer = self.add(spec.build_for(f"{TRUNK_PREFIX}{tag}_{index}_{spec.type}", tuple(x.shape[1:])))
        return layer(x)

    def flat(self, x: Any, tag: str = "") -> Any:
        """Heads and gates are dense: a feature map becomes a vector."""
        if len(x.shape) <= 2:
            return x
        return self.add(keras.layers.Flatten(name=f"{TRUNK_PREFIX}{tag}_flatten_out"))(x)

    def trunk_copy(self, x: Any, tag: str = "") -> Any:
        """`x` through a fresh copy of the trunk's layers (its own weights), as a vector."""
        for i in range(len(self.trunk)):
            x = self.trunk_layer(i, x, tag)
        return self.flat(x, tag)

    def gate(self, x: Any, experts: int, name: str) -> Any:
        """Softmax weights over `experts`, read from `x` (flattened)."""
        return self.add(keras.layers.Dense(experts, activation="softmax", name=name))(self.flat(x, f"_{name}"))
