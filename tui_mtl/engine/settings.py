"""What the user controls (strategy, rates, weights, loss scales), and the preset that holds it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from tui_mtl.presets import Preset
from tui_mtl.strategies.catalog import parse_strategy

TRUNK = "trunk"


@dataclass(frozen=True)
class Settings:
    strategy: str
    learning_rates: Mapping[str, float]  # head -> rate, and "trunk"
    weights: Mapping[str, float]
    loss_scales: Mapping[str, float]

    @classmethod
    def of(cls, preset: Preset) -> "Settings":
        heads = preset.model.heads
        return cls(parse_strategy(preset.strategy.name).canonical,
                   {TRUNK: preset.training.trunk_learning_rate, **{h.name: h.learning_rate for h in heads}},
                   {h.name: h.weight for h in heads}, {h.name: h.loss_scale for h in heads})


def preset_with(preset: Preset, settings: Settings, name: str | None = None,
                description: str | None = None) -> Preset:
    """`preset` with these settings in force: the strategy (and the parameters the preset gave its
    components), every rate, weight and scale."""
    heads = []
    for head in preset.model.model_dump(mode="json")["heads"]:
        head.update(learning_rate=settings.learning_rates[head["name"]], weight=settings.weights[head["name"]],
                    loss_scale=settings.loss_scales[head["name"]])
        heads.append(head)
    kept = preset.strategy.component_params()
    strategy: dict[str, Any] = {"name": settings.strategy}
    for kind, component in parse_strategy(settings.strategy).components().items():
        params = kept.get(component.name)
        if params is not None and params.model_dump(exclude_defaults=True):
            strategy[kind.value] = params.model_dump(exclude_defaults=True)
    changes: dict[str, Any] = {"model": {"heads": heads},
                               "training": {"trunk_learning_rate": settings.learning_rates[TRUNK]},
                               "strategy": strategy}
    if name is not None:
        changes["name"] = name
    if description is not None:
        changes["description"] = description
    return preset.with_changes(**changes)
