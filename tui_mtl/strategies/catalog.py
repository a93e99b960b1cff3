"""Every strategy component, its parameters and its one-line description — importable without
TensorFlow, so the CLI, `presets check` and the picker validate names and parameters at once.

A strategy is a weighting x an aggregator x an optimizer layout, written `AGGREGATOR@LAYOUT+WEIGHTING`:

* the **weighting** gives each head's objective (fixed weights, uncertainty, DWA, ...);
* the **aggregator** maps the per-head trunk gradients G [K, P] to per-head contributions [K, P]
  whose sum is the trunk's direction (`sum` is the identity);
* the **layout** says which optimizers apply them: `summed` (one trunk optimizer gets the sum),
  `grouped` (optimizer i gets row i, over the trunk and head i), `alternating` (one head per step).

Readable short forms: `summed` = `sum@summed`, `grouped` = `sum@grouped`, `pcgrad` = `pcgrad@summed`,
`summed+dwa`, `pcgrad@grouped`. Adding a method is one implementation file and one entry here.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError


class Kind(str, Enum):
    WEIGHTING = "weighting"
    AGGREGATOR = "aggregator"
    LAYOUT = "layout"


class Params(BaseModel):
    """A component's parameters: typed, validated, unknown keys refused."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class NoParams(Params):
    pass


# --- parameters of each component ---------------------------------------------------------


class UncertaintyParams(Params):
    lr: float = Field(default=0.01, gt=0, allow_inf_nan=False)


class DWAParams(Params):
    window: int = Field(default=50, gt=0)
    temperature: float = Field(default=2.0, gt=0, allow_inf_nan=False)


class GradNormParams(Params):
    alpha: float = Field(default=1.5, ge=0, allow_inf_nan=False)
    lr: float = Field(default=0.025, gt=0, allow_inf_nan=False)


class FAMOParams(Params):
    lr: float = Field(default=0.025, gt=0, allow_inf_nan=False)
    gamma: float = Field(default=0.001, ge=0, allow_inf_nan=False)


class MGDAParams(Params):
    iterations: int = Field(default=50, gt=0)  # Frank-Wolfe steps, beyond 10 heads only
    # g_i divided by 1, |g_i|, L_i or L_i |g_i| before the min-norm point is found (the paper's options)
    normalization: Literal["none", "l2", "loss", "loss+"] = "none"
    # MGDA-UB: gradients with respect to the trunk's output z, then one trunk backward pass
    representation: bool = False


class CAGradParams(Params):
    c: float = Field(default=0.4, ge=0, allow_inf_nan=False)


class NashParams(Params):
    update_every: int = Field(default=1, gt=0)  # solve every N steps, reuse the weights between


class FairGradParams(Params):
    alpha: float = Field(default=1.0, gt=0, allow_inf_nan=False)


class GradVacParams(Params):
    beta: float = Field(default=0.01, gt=0, le=1, allow_inf_nan=False)


class DBMTLParams(Params):
    beta: float = Field(default=0.9, ge=0, lt=1, allow_inf_nan=False)
    sigma: float = Field(default=0.5, ge=0, allow_inf_nan=False)


class IMTLLParams(Params):
    lr: float = Field(default=0.01, gt=0, allow_inf_nan=False)


class STCHParams(Params):
    mu: float = Field(default=1.0, gt=0, allow_inf_nan=False)
    warmup: int = Field(default=100, ge=0)  # steps on the log losses before the nadir is measured
    window: int = Field(default=100, gt=0)  # steps averaged into the nadir point


class AlternatingParams(Params):
    sampling: Literal["round_robin", "proportional", "annealing"] = "round_robin"
    alpha: float = Field(default=1.0, ge=0, allow_inf_nan=False)
    anneal_steps: int = Field(default=1000, gt=0)


@dataclass(frozen=True)
class Component:
    kind: Kind
    name: str
    target: str  # "module:Class", the TensorFlow implementation, imported on first use
    params: type[Params]
    summary: str  # one line: what it does
    reference: str = ""

    def load(self) -> Any:
        module, _, cls = self.target.partition(":")
        return getattr(importlib.import_module(module), cls)

    def parse_params(self, raw: dict | None) -> Params:
        """Validated parameters; ValueError names the parameter and the component."""
        try:
            return self.params.model_validate(dict(raw or {}))
        except ValidationError as err:
            first = err.errors()[0]
            key = ".".join(str(part) for part in first["loc"]) or "parameters"
            msg = first["msg"].removeprefix("Value error, ")
            if first["type"] == "extra_forbidden":
                known = ", ".join(self.params.model_fields) or "none"
                msg = f"unknown parameter (it takes: {known})"
            raise ValueError(f"{self.kind.value} {self.name!r}: {key}: {msg}") from None

    @property
    def defaults(self) -> dict:
        return self.params().model_dump()


_S = "tui_mtl.strategies"
WEIGHTINGS: dict[str, Component] = {c.name: c for c in (
    Component(Kind.WEIGHTING, "fixed", f"{_S}.weightings.fixed:Fixed", NoParams,
              "the preset's weights w_i, changed by your keys"),
    Component(Kind.WEIGHTING, "uncertainty", f"{_S}.weightings.uncertainty:Uncertainty", UncertaintyParams,
              "learned log-variances: objective 1/2(exp(-s_i) L_i + s_i)", "Kendall et al. 2018"),
    Component(Kind.WEIGHTING, "dwa", f"{_S}.weightings.dwa:DWA", DWAParams,
              "K softmax(r_i/T), r_i how fast each loss fell over the last two windows", "Liu et al. 2019"),
    Component(Kind.WEIGHTING, "gradnorm", f"{_S}.weightings.gradnorm:GradNorm", GradNormParams,
              "weights trained so gradient norms track each head's relative training rate", "Chen et al. 2018"),
    Component(Kind.WEIGHTING, "famo", f"{_S}.weightings.famo:FAMO", FAMOParams,
              "weights moved by how much each log-loss fell (a second forward pass)", "Liu et al. 2023"),
    Component(Kind.WEIGHTING, "random", f"{_S}.weightings.rlw:RandomWeighting", NoParams,
              "K softmax(e), e ~ N(0, 1) drawn every step (RLW)", "Lin et al. 2021"),
    Component(Kind.WEIGHTING, "imtl_l", f"{_S}.weightings.imtl_l:IMTLL", IMTLLParams,
              "learned scales: objective exp(s_i) L_i - s_i, so every scaled loss tends to 1 (IMTL-L)",
              "Liu et al. 2021"),
    Component(Kind.WEIGHTING, "log", f"{_S}.weightings.log:LogLoss", NoParams,
              "objective w_i log L_i: gradients w_i g_i / L_i, blind to each loss's scale", "Lin et al. 2023"),
    Component(Kind.WEIGHTING, "gls", f"{_S}.weightings.gls:GeometricLoss", NoParams,
              "objective (prod_i L_i)^(1/K), the geometric mean of the losses", "Chennupati et al. 2019"),
    Component(Kind.WEIGHTING, "stch", f"{_S}.weightings.stch:SmoothTchebycheff", STCHParams,
              "mu log sum exp(w_i log(L_i / z_i) / mu): the worst head relative to a measured nadir z",
              "Lin et al. 2024"),
)}
AGGREGATORS: dict[str, Component] = {c.name: c for c in (
    Component(Kind.AGGREGATOR, "sum", f"{_S}.aggregators.sum:Sum", NoParams,
              "each head's own gradient, unchanged"),
    Component(Kind.AGGREGATOR, "pcgrad", f"{_S}.aggregators.pcgrad:PCGrad", NoParams,
              "each g_i projected off the g_j it conflicts with, in random order", "Yu et al. 2020"),
    Component(Kind.AGGREGATOR, "mgda", f"{_S}.aggregators.mgda:MGDA", MGDAParams,
              "K x the min-norm point of the convex hull of the g_i (exact up to 10 heads; "
              "representation = true: MGDA-UB)", "Sener & Koltun 2018"),
    Component(Kind.AGGREGATOR, "cagrad", f"{_S}.aggregators.cagrad:CAGrad", CAGradParams,
              "K x the mean gradient pulled towards the worst-off head within radius c (exact up to 10 heads)",
              "Liu et al. 2021"),
    Component(Kind.AGGREGATOR, "imtl", f"{_S}.aggregators.imtl:IMTLG", NoParams,
              "K x the combination with equal projections on every unit g_i (IMTL-G)", "Liu et al. 2021"),
    Component(Kind.AGGREGATOR, "nash", f"{_S}.aggregators.nash:NashMTL", NashParams,
              "the bargaining solution alpha_i g_i, (G G^T) alpha = 1/alpha (Nash-MTL)", "Navon et al. 2022"),
    Component(Kind.AGGREGATOR, "fairgrad", f"{_S}.aggregators.fairgrad:FairGrad", FairGradParams,
              "alpha-fair weights w_i g_i, (G G^T) w = w^(-1/alpha); alpha = 1 is Nash-MTL", "Ban & Ji 2024"),
    Component(Kind.AGGREGATOR, "upgrad", f"{_S}.aggregators.upgrad:UPGrad", NoParams,
              "each g_i projected onto the cone of directions no head opposes, summed", "Quinton & Rey 2024"),
    Component(Kind.AGGREGATOR, "aligned", f"{_S}.aggregators.aligned:AlignedMTL", NoParams,
              "the gradients made orthogonal with equal norms (sqrt of the least eigenvalue), summed",
              "Senushkin et al. 2023"),
    Component(Kind.AGGREGATOR, "config", f"{_S}.aggregators.config:ConFIG", NoParams,
              "the direction at equal angles to every g_i, as long as they reach along it", "Liu et al. 2025"),
    Component(Kind.AGGREGATOR, "graddrop", f"{_S}.aggregators.graddrop:GradDrop", NoParams,
              "per coordinate, only one sign's gradients kept, chosen by its share of the mass",
              "Chen et al. 2020"),
    Component(Kind.AGGREGATOR, "gradvac", f"{_S}.aggregators.gradvac:GradVac", GradVacParams,
              "each pair's cosine lifted to an EMA target of its history (Gradient Vaccine)", "Wang et al. 2021"),
    Component(Kind.AGGREGATOR, "dbmtl", f"{_S}.aggregators.dbmtl:DBMTL", DBMTLParams,
              "EMAs of the g_i, each scaled to the largest norm; dbmtl+log is DB-MTL", "Lin et al. 2023"),
)}
LAYOUTS: dict[str, Component] = {c.name: c for c in (
    Component(Kind.LAYOUT, "summed", f"{_S}.layouts.summed:Summed", NoParams,
              "one trunk optimizer (trunk rate) gets the sum; each head its own optimizer (head rate)"),
    Component(Kind.LAYOUT, "grouped", f"{_S}.layouts.grouped:Grouped", NoParams,
              "one optimizer per head (head rate) over the trunk and its head: K trunk steps per batch"),
    Component(Kind.LAYOUT, "alternating", f"{_S}.layouts.alternating:Alternating", AlternatingParams,
              "one head per step, its own optimizer over the trunk and its head"),
)}
CATALOG: dict[Kind, dict[str, Component]] = {Kind.WEIGHTING: WEIGHTINGS, Kind.AGGREGATOR: AGGREGATORS,
                                             Kind.LAYOUT: LAYOUTS}


@dataclass(frozen=True)
class StrategyName:
    """One point of the strategy space; `canonical` is the short readable spelling."""

    aggregator: str = "sum"
    layout: str = "summed"
    weighting: str = "fixed"

    @property
    def canonical(self) -> str:
        if self.aggregator == "sum":
            base = self.layout
        elif self.layout == "summed":
            base = self.aggregator
        else:
            base = f"{self.aggregator}@{self.layout}"
        return base if self.weighting == "fixed" else f"{base}+{self.weighting}"

    def components(self) -> dict[Kind, Component]:
        return {Kind.WEIGHTING: WEIGHTINGS[self.weighting], Kind.AGGREGATOR: AGGREGATORS[self.aggregator],
                Kind.LAYOUT: LAYOUTS[self.layout]}

    def describe(self) -> str:
        """One line: what moves the trunk, with which optimizers, and where the weights come from."""
        parts = {Kind.LAYOUT: LAYOUTS[self.layout].summary}
        if self.aggregator != "sum":
            parts[Kind.AGGREGATOR] = AGGREGATORS[self.aggregator].summary
        if self.weighting != "fixed":
            parts[Kind.WEIGHTING] = WEIGHTINGS[self.weighting].summary
        return "; ".join(f"{kind.value}: {text}" for kind, text in parts.items())


def _choices(table: dict) -> str:
    return ", ".join(table)


def parse_strategy(name: str) -> StrategyName:
    """'pcgrad@grouped+dwa' -> StrategyName('pcgrad', 'grouped', 'dwa'); ValueError names the choices."""
    text = str(name).strip()
    base, _, weighting = text.partition("+")
    weighting = weighting or "fixed"
    aggregator, at, layout = base.partition("@")
    if not at:  # one word: a layout ('grouped') or an aggregator on the summed layout ('pcgrad')
        if base in LAYOUTS:
            aggregator, layout = "sum", base
        else:
            aggregator, layout = base, "summed"
    if aggregator not in AGGREGATORS:
        raise ValueError(f"unknown strategy {text!r}: {aggregator!r} is not a layout ({_choices(LAYOUTS)}) "
                         f"or an aggregator ({_choices(AGGREGATORS)}); the general form is "
                         f"AGGREGATOR@LAYOUT+WEIGHTING")
    if layout not in LAYOUTS:
        raise ValueError(f"unknown layout {layout!r} in {text!r}; layouts are {_choices(LAYOUTS)}")
    if weighting not in WEIGHTINGS:
        raise ValueError(f"unknown weighting {weighting!r} in {text!r}; weightings are {_choices(WEIGHTINGS)}")
    if layout == "alternating" and aggregator != "sum":
        raise ValueError(f"{text!r}: alternating trains one head per step, so there is nothing to aggregate; "
                         f"use alternating{'+' + weighting if weighting != 'fixed' else ''}")
    return StrategyName(aggregator, layout, weighting)


def canonical_name(name: str) -> str:
    return parse_strategy(name).canonical


def all_strategies() -> tuple[str, ...]:
    """Every valid combination, in a readable order: layouts first, then aggregators, each weighting."""
    names: list[str] = []
    for weighting in WEIGHTINGS:
        for layout in LAYOUTS:
            for aggregator in AGGREGATORS:
                if layout == "alternating" and aggregator != "sum":
                    continue
                names.append(StrategyName(aggregator, layout, weighting).canonical)
    return tuple(names)


# What `s` cycles through and 1-9 pick: the classic rules, then summed with each adaptive weighting.
# Every other combination is picked by name (the strategy picker, the palette, presets, the CLI).
STRATEGY_NAMES: tuple[str, ...] = (
    "summed", "grouped", "alternating", "pcgrad", "mgda", "cagrad",
    *(f"summed+{w}" for w in WEIGHTINGS if w != "fixed"),
)


@dataclass(frozen=True)
class ComponentParams:
    """Parameters per component name (not per slot): switching from summed+dwa to grouped+dwa keeps
    DWA's window."""

    by_name: dict[str, Params] = field(default_factory=dict)

    def of(self, component: Component) -> Params:
        return self.by_name.get(component.name) or component.params()


def find_owner(key: str, strategy: StrategyName) -> list[Component]:
    """The components of `strategy` that take parameter `key` (for the old flat `params` table)."""
    return [c for c in strategy.components().values() if key in c.params.model_fields]


def check_combination(strategy: StrategyName, params: ComponentParams) -> None:
    """Rules that join one component's parameters to the rest of the strategy (ValueError says which)."""
    mgda = params.of(AGGREGATORS[strategy.aggregator])
    if isinstance(mgda, MGDAParams) and mgda.representation and strategy.layout != "summed":
        raise ValueError(f"{strategy.canonical}: mgda's representation = true (MGDA-UB) takes one trunk "
                         f"backward pass of the combined objective, so it needs the summed layout, "
                         f"not {strategy.layout}; use mgda@summed or drop representation")
