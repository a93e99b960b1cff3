"""[model.architecture]: how the heads share the trunk. The trunk's layer list is one expert (or one
column); the architecture says how many copies there are and how the heads mix them.

    hard          one trunk, every head on its output (the default)
    mmoe          `experts` copies of the trunk; each head mixes them with its own softmax gate
    cgc           `shared` experts for all, `per_head` experts of each head's own, a gate per head
    ple           CGC stacked `levels` deep; above the first level the experts are dense layers
    cross_stitch  one trunk column per head, mixed after every layer with weights by learned units

Each knows its parameter count and how many trunk copies it holds (for `presets check` and the
summary) without TensorFlow; `build` imports the Keras side. Which variables are "trunk" is decided
by the model builder from what each head's output reaches, the same rule for every architecture.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal, Union

from pydantic import Field

from tui_mtl.presets.layers import Shape, Strict


class _Architecture(Strict):
    type: str

    def copies(self, k: int) -> int:
        """How many copies of the trunk's layer list the model holds."""
        return 1

    def extra_params(self, k: int, input_shape: Shape, trunk: list) -> int:
        """Parameters beyond the trunk copies (gates, higher levels, stitch units)."""
        return 0

    def short(self, k: int) -> str:
        return self.type

    def build(self, parts: Any, inputs: Any, heads: list[str]) -> dict:
        """Each head's input vector; `parts` (tui_mtl.architectures.parts.Parts) makes the layers."""
        from tui_mtl.architectures import BUILDERS

        return BUILDERS[self.type](self, parts, inputs, heads)


class HardSharing(_Architecture):
    type: Literal["hard"] = "hard"


class MMoE(_Architecture):
    """Ma et al. 2018: experts shared by all heads, a softmax gate per head on the input."""

    type: Literal["mmoe"]
    experts: int = Field(default=4, gt=0, le=64)

    def copies(self, k):
        return self.experts

    def extra_params(self, k, input_shape, trunk):
        return k * (math.prod(input_shape) + 1) * self.experts

    def short(self, k):
        return f"mmoe ({self.experts} experts)"


class _Gated(_Architecture):
    shared: int = Field(default=2, gt=0, le=64)
    per_head: int = Field(default=1, gt=0, le=64)
    levels: int = 1

    def copies(self, k):
        return self.shared + k * self.per_head

    def extra_params(self, k, input_shape, trunk):
        features = _features(input_shape, trunk)
        dense_levels = (self.levels - 1) * self.copies(k) * (features * features + features)
        return dense_levels + _gate_params(self, k, math.prod(input_shape), features)

    def short(self, k):
        levels = f", {self.levels} levels" if self.levels > 1 else ""
        return f"{self.type} ({self.shared} shared + {self.per_head} per head{levels})"


class CGC(_Gated):
    """Tang et al. 2020: shared experts plus each head's own, each head's gate over both."""

    type: Literal["cgc"]
    levels: Literal[1] = 1


class PLE(_Gated):
    """Tang et al. 2020: CGC levels stacked, a shared gate feeding each next level's shared experts;
    the first level's experts are trunk copies, the next levels' dense layers of the trunk's width."""

    type: Literal["ple"]
    levels: int = Field(default=2, ge=2, le=8)


def _gate_params(arch: _Gated, k: int, input_size: int, features: int) -> int:
    """Each level's task gates (over shared + own experts) and, below the top, its shared gate
    (over every expert); level 1's gates read the input, the others a vector of the features."""
    total = 0
    for level in range(arch.levels):
        size = input_size if level == 0 else features
        total += k * (size + 1) * (arch.shared + arch.per_head)
        if level < arch.levels - 1:
            total += (size + 1) * (arch.shared + k * arch.per_head)
    return total


class CrossStitch(_Architecture):
    """Misra et al. 2016: a column per head; after every layer with weights, each column becomes a
    learned combination of all columns (a K x K unit, started at `keep` on the diagonal)."""

    type: Literal["cross_stitch"]
    keep: float = Field(default=0.9, gt=0, le=1)

    def copies(self, k):
        return k

    def extra_params(self, k, input_shape, trunk):
        return stitch_points(input_shape, trunk) * k * k if k > 1 else 0

    def short(self, k):
        return "cross-stitch (a column per head)"


def stitch_points(input_shape: Shape, trunk: list) -> int:
    """How many trunk layers have weights (a cross-stitch unit follows each)."""
    shape, count = tuple(input_shape), 0
    for layer in trunk:
        count += layer.param_count(shape) > 0
        shape = layer.output_shape(shape)
    return count


def _features(input_shape: Shape, trunk: list) -> int:
    shape = tuple(input_shape)
    for layer in trunk:
        shape = layer.output_shape(shape)
    return math.prod(shape)


ArchitectureSpec = Annotated[Union[HardSharing, MMoE, CGC, PLE, CrossStitch], Field(discriminator="type")]
