"""A Strategy: one weighting, one aggregator and one layout, built for one model, with their state.

Every strategy used in a session is kept (switching back resumes its optimizer moments). Its state
is a named, ordered dict of variables; the order is the one checkpoints of format 1 used (layout
optimizers, then the weighting's optimizer and variables), so those still load.
"""

from __future__ import annotations

import copy

import numpy as np
import tensorflow as tf

from tui_mtl.strategies.base import Aggregator, Layout, StepContext, Weighting, optimizer_state
from tui_mtl.strategies.catalog import ComponentParams, Kind, StrategyName, check_combination, parse_strategy


class Strategy:
    def __init__(self, ctx: StepContext, name: str, rates: dict, params: ComponentParams):
        self.parsed: StrategyName = parse_strategy(name)
        check_combination(self.parsed, params)
        self.name = self.parsed.canonical
        components = self.parsed.components()
        make = {kind: c.load() for kind, c in components.items()}
        self.weighting: Weighting = make[Kind.WEIGHTING](ctx, params.of(components[Kind.WEIGHTING]))
        self.aggregator: Aggregator = make[Kind.AGGREGATOR](ctx, params.of(components[Kind.AGGREGATOR]))
        self.layout: Layout = make[Kind.LAYOUT](ctx, params.of(components[Kind.LAYOUT]), rates)
        if not ctx.net.trunk_variables and not self.aggregator.identity:
            from tui_mtl.errors import CommandError

            raise CommandError(f"strategy {self.name}: {components[Kind.AGGREGATOR].name} combines the heads' "
                               f"gradients on the trunk, and this model's trunk has no trainable variables (a "
                               f"frozen backbone?); use summed or grouped")
        self._pristine = self._capture()  # what `reset` returns to

    # --- state ---------------------------------------------------------------------------

    def state(self) -> dict[str, tf.Variable]:
        """Every variable of this strategy, named, in a fixed order."""
        state = optimizer_state("layout/optimizer", self.layout.optimizers())
        state.update(optimizer_state("weighting/optimizer", self.weighting.optimizers()))
        state.update({f"weighting/{k}": v for k, v in self.weighting.variables().items()})
        state.update({f"aggregator/{k}": v for k, v in self.aggregator.variables().items()})
        state.update(optimizer_state("aggregator/optimizer", self.aggregator.optimizers()))
        return state

    def python_state(self) -> dict:
        return {"layout": self.layout.python_state(), "weighting": self.weighting.python_state(),
                "aggregator": self.aggregator.python_state()}

    def load_python_state(self, state: dict) -> None:
        if "layout" not in state:  # format 1 kept the layout's (alternating's) state at the top
            state = {"layout": state}
        self.layout.load_python_state(state.get("layout") or {})
        self.weighting.load_python_state(state.get("weighting") or {})
        self.aggregator.load_python_state(state.get("aggregator") or {})

    def _capture(self) -> tuple[list[np.ndarray], dict]:
        return [np.array(v.numpy()) for v in self.state().values()], copy.deepcopy(self.python_state())

    def reset(self) -> None:
        """Back to the state it was built with: zero moments and step counts, initial weighting state.
        (Learning rates come back too; the session sets the ones in force afterwards.)"""
        arrays, python = self._pristine
        for variable, value in zip(self.state().values(), arrays, strict=True):
            variable.assign(value)
        self.load_python_state(copy.deepcopy(python))

    # --- rates and variants --------------------------------------------------------------

    def set_learning_rates(self, rates: dict) -> None:
        self.layout.set_learning_rates(rates)

    def next_variant(self) -> int:
        return self.layout.next_variant(lambda: self.weighting.current().numpy())
