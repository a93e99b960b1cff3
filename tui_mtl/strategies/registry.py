"""Strategy names, importable without TensorFlow (the CLI and the picker validate names early).

A strategy name is an update rule, optionally followed by `+weighting` (e.g. `grouped`, later
`pcgrad+uncertainty`). Adding an update rule means one module in this folder and one line here.
"""

from __future__ import annotations

# update rule -> "module:Class" (imported lazily: those modules import TensorFlow)
UPDATE_RULES: dict[str, str] = {
    "summed": "tui_mtl.strategies.summed:Summed",
    "grouped": "tui_mtl.strategies.grouped:Grouped",
}
WEIGHTINGS: dict[str, str] = {
    "fixed": "",
}
STRATEGY_NAMES: tuple[str, ...] = tuple(UPDATE_RULES)


def parse_strategy_name(name: str) -> tuple[str, str]:
    """'grouped' -> ('grouped', 'fixed'); raises ValueError naming the known choices."""
    rule, _, weighting = name.strip().partition("+")
    weighting = weighting or "fixed"
    if rule not in UPDATE_RULES:
        raise ValueError(f"unknown strategy {name!r}; choose one of {', '.join(STRATEGY_NAMES)}")
    if weighting not in WEIGHTINGS:
        raise ValueError(f"unknown weighting {weighting!r} in {name!r}; choose one of {', '.join(WEIGHTINGS)}")
    return rule, weighting


def canonical_name(name: str) -> str:
    rule, weighting = parse_strategy_name(name)
    return rule if weighting == "fixed" else f"{rule}+{weighting}"


def load_update_rule(rule: str):
    import importlib

    module_name, _, class_name = UPDATE_RULES[rule].partition(":")
    return getattr(importlib.import_module(module_name), class_name)
