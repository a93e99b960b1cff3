"""Strategy names, importable without TensorFlow (the CLI and the picker validate names early).

A strategy is an update rule, optionally followed by `+weighting`: `grouped`, `pcgrad+uncertainty`,
`grouped+dwa`. Adding a method means one module in this folder and one line here.
"""

from __future__ import annotations

import importlib

# name -> "module:Class" (imported lazily: those modules import TensorFlow)
UPDATE_RULES: dict[str, str] = {
    "summed": "tui_mtl.strategies.summed:Summed",
    "grouped": "tui_mtl.strategies.grouped:Grouped",
    "alternating": "tui_mtl.strategies.alternating:Alternating",
    "pcgrad": "tui_mtl.strategies.pcgrad:PCGrad",
    "mgda": "tui_mtl.strategies.mgda:MGDA",
    "cagrad": "tui_mtl.strategies.cagrad:CAGrad",
}
WEIGHTINGS: dict[str, str] = {
    "fixed": "tui_mtl.strategies.base:Weighting",
    "uncertainty": "tui_mtl.strategies.weightings.uncertainty:Uncertainty",
    "dwa": "tui_mtl.strategies.weightings.dwa:DWA",
    "gradnorm": "tui_mtl.strategies.weightings.gradnorm:GradNorm",
    "famo": "tui_mtl.strategies.weightings.famo:FAMO",
    "random": "tui_mtl.strategies.weightings.rlw:RandomWeighting",
}
# What the UI cycles through: every update rule, then summed with every adaptive weighting.
# Any other combination (e.g. pcgrad+uncertainty) is accepted by name.
STRATEGY_NAMES: tuple[str, ...] = (
    *UPDATE_RULES, *(f"summed+{w}" for w in WEIGHTINGS if w != "fixed"),
)


def parse_strategy_name(name: str) -> tuple[str, str]:
    """'grouped' -> ('grouped', 'fixed'); raises ValueError naming the known choices."""
    rule, _, weighting = name.strip().partition("+")
    weighting = weighting or "fixed"
    if rule not in UPDATE_RULES:
        raise ValueError(f"unknown strategy {name!r}; update rules are {', '.join(UPDATE_RULES)} "
                         f"(optionally +{'/+'.join(w for w in WEIGHTINGS if w != 'fixed')})")
    if weighting not in WEIGHTINGS:
        raise ValueError(f"unknown weighting {weighting!r} in {name!r}; choose one of {', '.join(WEIGHTINGS)}")
    return rule, weighting


def canonical_name(name: str) -> str:
    rule, weighting = parse_strategy_name(name)
    return rule if weighting == "fixed" else f"{rule}+{weighting}"


def _load(target: str):
    module_name, _, class_name = target.partition(":")
    return getattr(importlib.import_module(module_name), class_name)


def load_update_rule(rule: str):
    return _load(UPDATE_RULES[rule])


def load_weighting(weighting: str):
    return _load(WEIGHTINGS[weighting])
