"""[strategy]: the name (AGGREGATOR@LAYOUT+WEIGHTING) and each component's own parameter table.

    [strategy]
    name = "pcgrad@grouped+dwa"
    [strategy.weighting]
    window = 20

The old flat `params = {...}` still loads: each key goes to the one component of the strategy that
takes it; a key two components take (alternating's and GradNorm's `alpha`) is refused, naming both.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator, model_validator

from tui_mtl.presets.layers import Strict
from tui_mtl.strategies.catalog import (ComponentParams, Kind, Params, StrategyName, check_combination, find_owner,
                                       parse_strategy)


class StrategySpec(Strict):
    name: str = "summed"
    weighting: dict[str, Any] = Field(default_factory=dict)
    aggregator: dict[str, Any] = Field(default_factory=dict)
    layout: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _move_flat_params(cls, data: Any) -> Any:
        if not isinstance(data, dict) or "params" not in data:
            return data
        data = dict(data)
        flat = data.pop("params") or {}
        if not isinstance(flat, dict):
            raise ValueError("strategy.params must be a table")
        try:
            strategy = parse_strategy(data.get("name", "summed"))
        except ValueError:
            return data  # the name's own error is reported
        for key, value in flat.items():
            owners = find_owner(str(key), strategy)
            if not owners:
                known = sorted({k for c in strategy.components().values() for k in c.params.model_fields})
                raise ValueError(f"params: unknown parameter {key!r} for {strategy.canonical} "
                                 f"(it takes: {', '.join(known) or 'none'})")
            if len(owners) > 1:
                both = " and ".join(f"the {c.kind.value} {c.name!r}" for c in owners)
                tables = " or ".join(f"[strategy.{c.kind.value}]" for c in owners)
                raise ValueError(f"params: {key!r} is a parameter of {both}; put it under {tables}")
            table = dict(data.get(owners[0].kind.value) or {})
            if key in table:
                raise ValueError(f"params: {key!r} is also set in [strategy.{owners[0].kind.value}]")
            table[key] = value
            data[owners[0].kind.value] = table
        return data

    @field_validator("name")
    @classmethod
    def _known(cls, name: str) -> str:
        parse_strategy(name)  # ValueError naming the choices, located at strategy.name
        return name

    @model_validator(mode="after")
    def _check(self) -> "StrategySpec":
        strategy = parse_strategy(self.name)
        for kind, component in strategy.components().items():
            component.parse_params(self.table(kind))
        check_combination(strategy, ComponentParams(self.component_params()))
        return self

    def check(self, name: str) -> str:
        """`name` in canonical form if it can run with this preset's parameters (ValueError otherwise)."""
        strategy = parse_strategy(name)
        check_combination(strategy, ComponentParams(self.component_params()))
        return strategy.canonical

    def table(self, kind: Kind) -> dict[str, Any]:
        return {Kind.WEIGHTING: self.weighting, Kind.AGGREGATOR: self.aggregator, Kind.LAYOUT: self.layout}[kind]

    @property
    def parsed(self) -> StrategyName:
        return parse_strategy(self.name)

    def component_params(self) -> dict[str, Params]:
        """Validated parameters of the named strategy's components, by component name."""
        return {c.name: c.parse_params(self.table(kind)) for kind, c in self.parsed.components().items()}
