"""The dashboard's state, without Textual: what is shown, what was asked for and not yet in force,
which branch the keys act on. The screen routes messages and keys here and draws what it says;
everything here is unit-testable with plain reports.

The engine's reports are the only source of what is in force (rates, weights, strategy, state):
the UI thread never reads the session's own attributes while it trains.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Mapping

from tui_mtl.engine.reports import Report
from tui_mtl.engine.settings import TRUNK
from tui_mtl.engine.state import State
from tui_mtl.presets import Preset
from tui_mtl.strategies.catalog import STRATEGY_NAMES, parse_strategy
from tui_mtl.ui.colors import PALETTE
from tui_mtl.ui.rows import CompareRow, HeadRow


class Phase(Enum):
    LOADING = "loading"  # TensorFlow imports, the session builds
    READY = "ready"  # a session is being served
    START_FAILED = "start failed"  # the session could not be built


class SpaceAction(Enum):
    PAUSE = "pause"
    RESUME = "resume"
    EXTEND = "extend"  # train another run after the end


class View(Enum):
    OVERLAY = "overlay"
    ONE = "one"


def adaptive(strategy: str | None) -> bool:
    """Whether the strategy's weighting moves the weights (uncertainty, DWA, GradNorm, FAMO, random)."""
    try:
        return strategy is not None and parse_strategy(strategy).weighting != "fixed"
    except ValueError:
        return False


def last_point(table: Mapping, head: str) -> float | None:
    """The newest value of one of History's series tables (train / val / val_metric)."""
    series = table.get(head)
    if series is None or not len(series):
        return None
    return series.points()[1][-1]


@dataclass
class Pending:
    """Changes sent to the engine and not yet in force (shown with a '…')."""

    strategy: str | None = None
    lr: dict[str, float] = field(default_factory=dict)
    weight: dict[str, float] = field(default_factory=dict)
    scale: dict[str, float] = field(default_factory=dict)
    # the number of the command behind each change (Controller.submit): a report settles the changes
    # it has applied, not the ones whose value it happens to show (a stale report can show the old
    # value a change returns to, and `[` pressed again would then halve the wrong rate)
    numbers: dict[tuple[str, str], int] = field(default_factory=dict)

    def set_strategy(self, name: str, number: int) -> None:
        self.strategy, self.numbers[("strategy", "")] = name, number

    def set_lr(self, head: str, rate: float, number: int) -> None:
        self.lr[head], self.numbers[("lr", head)] = float(rate), number

    def set_weight(self, head: str, weight: float, number: int) -> None:
        self.weight[head], self.numbers[("weight", head)] = float(weight), number

    def set_scale(self, head: str, scale: float, number: int) -> None:
        self.scale[head], self.numbers[("scale", head)] = float(scale), number

    def clear(self) -> None:
        self.strategy = None
        self.lr.clear(), self.weight.clear(), self.scale.clear(), self.numbers.clear()

    def settle(self, report: Report | None) -> None:
        """Forget the changes the report has applied."""
        if report is None:
            return
        done = report.commands_applied
        if self.strategy is not None and self.numbers.get(("strategy", ""), 0) <= done:
            self.strategy = None
        for kind, pending in (("lr", self.lr), ("weight", self.weight), ("scale", self.scale)):
            for head in [h for h in pending if self.numbers.get((kind, h), 0) <= done]:
                del pending[head]

    def __bool__(self) -> bool:
        return bool(self.strategy or self.lr or self.weight or self.scale)


@dataclass
class Branches:
    """A comparison as the dashboard sees it."""

    names: list[str]
    fork_step: int
    current: str
    view: View = View.OVERLAY
    reports: dict[str, Report] = field(default_factory=dict)
    colors: dict[str, tuple] = field(default_factory=dict)  # kept when a branch is dropped

    def select_next(self) -> str:
        self.current = self.names[(self.names.index(self.current) + 1) % len(self.names)]
        return self.current

    def cycle_view(self) -> None:
        """Overlay -> one branch (each in turn) -> overlay."""
        if self.view is View.OVERLAY:
            self.view, self.current = View.ONE, self.names[0]
            return
        index = self.names.index(self.current) + 1
        if index >= len(self.names):
            self.view = View.OVERLAY
        else:
            self.current = self.names[index]

    def drop(self, name: str) -> None:
        index = self.names.index(name)
        self.names.remove(name)
        self.reports.pop(name, None)
        self.current = self.names[min(index, len(self.names) - 1)]


class DashboardModel:
    def __init__(self, preset: Preset):
        self.preset = preset
        self.heads = list(preset.model.head_names)
        self.strategies: tuple[str, ...] = STRATEGY_NAMES
        self.phase = Phase.LOADING
        self.device = "loading TensorFlow…"
        self.report: Report | None = None  # the newest report of the session (or the current branch)
        self.failure: str | None = None  # why the session could not start, or the run raised
        self.pending = Pending()
        self.note: str | None = None  # a one-off message at the start of the changes line, for a while
        self.note_time = 0.0
        self.log_scale = preset.display.log_scale
        self.smoothing = preset.display.smoothing
        self.show_diagnostics = False
        self.last_diagnostics: dict | None = None
        self.last_diagnostics_step: int | None = None
        self.branches: Branches | None = None
        self.forking = False  # asked for a fork; the worker stops at a step boundary to make it
        self.paused_for_dialog = False  # the fork dialog paused training: resume if it is cancelled

    # --- what the engine said ---------------------------------------------------------------

    NOTE_SECONDS = 8.0

    def say(self, text: str | None, now: float | None = None) -> None:
        self.note = text
        self.note_time = time.monotonic() if now is None else now

    def current_note(self, now: float | None = None) -> str | None:
        now = time.monotonic() if now is None else now
        return self.note if now - self.note_time < self.NOTE_SECONDS else None

    @property
    def state(self) -> State | None:
        return self.report.state if self.report is not None else None

    def take(self, item: Report | dict) -> None:
        """A report of the session, or {branch: Report} from a comparison."""
        if isinstance(item, dict):
            if self.branches is None:
                return
            reports = {name: r for name, r in item.items() if name in self.branches.names}
            if not reports:
                return
            self.branches.reports.update(reports)
            report = reports.get(self.branches.current) or next(iter(reports.values()))
            faulty = next((r for r in reports.values() if r.fault is not None), None)
            if faulty is not None and report.fault is None:
                report = faulty
        elif self.branches is not None:
            return  # the parent's last report, after the fork
        else:
            report = item
            if self.forking and report.state is State.STOPPED:
                return  # stopped to fork: not a state the user asked for
        self.report = report
        if report.diagnostics:
            self.last_diagnostics = dict(report.diagnostics)
            self.last_diagnostics_step = report.step
        for event in report.events:
            if event.kind == "checkpoint":
                self.say(f"checkpoint at step {event.step:,}: {event.text}")
            elif event.kind in ("rewind", "reset"):
                self.say(event.text)
        if report.state is not State.FAILED:
            self.failure = None
        self.pending.settle(report)

    def forked(self, names: list[str], fork_step: int) -> None:
        self.branches = Branches(list(names), fork_step, names[0],
                                 colors={n: PALETTE[i % len(PALETTE)] for i, n in enumerate(names)})
        self.forking = False
        self.pending.clear()
        self.report = None
        self.say(f"forked at step {fork_step:,} into {', '.join(names)}")

    def select_branch(self, name: str) -> None:
        assert self.branches is not None
        self.branches.current = name
        self.pending.clear()
        self.report = self.branches.reports.get(name, self.report)

    # --- what is shown --------------------------------------------------------------------------

    @property
    def state_label(self) -> str:
        if self.phase is Phase.LOADING:
            return "loading"
        if self.phase is Phase.START_FAILED:
            return "error"
        if self.forking:
            return "forking"
        state = self.state
        if state is None:
            return "starting"
        if self.report is not None and self.report.tracing:
            return "compiling"
        return str(state)

    def in_force(self) -> tuple[dict, dict, dict, str]:
        """Rates, weights, loss scales and strategy in force (the preset's until the first report)."""
        if self.report is not None:
            r = self.report
            return dict(r.learning_rates), dict(r.weights), dict(r.loss_scales or {}), r.strategy
        p = self.preset
        rates = {TRUNK: p.training.trunk_learning_rate, **{h.name: h.learning_rate for h in p.model.heads}}
        return (rates, {h.name: h.weight for h in p.model.heads}, {h.name: h.loss_scale for h in p.model.heads},
                parse_strategy(p.strategy.name).canonical)

    def strategy_shown(self) -> str:
        return self.pending.strategy or self.in_force()[3]

    def rate_of(self, head: str) -> float:
        return self.pending.lr.get(head, self.in_force()[0][head])

    def weight_of(self, head: str) -> float:
        return self.pending.weight.get(head, self.in_force()[1][head])

    def scale_of(self, head: str) -> float:
        return self.pending.scale.get(head, self.in_force()[2].get(head, 1.0))

    def error_text(self) -> str | None:
        """The banner: why training stopped itself and what to do, or why nothing trains."""
        if self.phase is Phase.START_FAILED:
            return (f"Could not start the session: {self.failure}\n"
                    "esc: back to the preset picker · q: quit")
        if self.failure and self.state is State.FAILED:
            return f"Training failed: {self.failure}\nr: restart from fresh weights · q: quit"
        fault = self.report.fault if self.report is not None else None
        if fault is not None and self.state is State.FAULTED:
            rewind = f"z rewind to step {fault.rewind_step:,}" if fault.rewind_step is not None else "z rewind"
            return f"{fault.summary}.\n{rewind} · e edit · [ ] rate · s strategy · space resume · r restart"
        return None

    def space_action(self) -> SpaceAction:
        state = self.state
        if state is State.RUNNING or state is None:  # before the first report: it is about to run
            return SpaceAction.PAUSE
        if state in (State.PAUSED, State.FAULTED):
            return SpaceAction.RESUME
        return SpaceAction.EXTEND

    def progress(self) -> tuple[int, int, float, str]:
        r = self.report
        if r is None:
            return 0, self.preset.training.steps, 0.0, self.state_label
        return r.step, r.target_step, r.steps_per_sec, self.state_label

    # --- tables ---------------------------------------------------------------------------------

    def head_rows(self, history: Any) -> list[HeadRow]:
        rates, weights, scales, strategy = self.in_force()
        report = self.report
        effective = report.effective_weights if report is not None and adaptive(strategy) else None
        rows = []
        for head in self.preset.model.heads:
            name = head.name
            rows.append(HeadRow(
                head=name, loss=head.loss, weight=self.pending.weight.get(name, weights.get(name)),
                effective=effective.get(name) if effective else None,
                lr=self.pending.lr.get(name, rates.get(name)),
                scale=self.pending.scale.get(name, scales.get(name, 1.0)),
                train=report.train_loss.get(name) if report else None,
                best=history.best_train.get(name) if history is not None else None,
                val=last_point(history.val, name) if history is not None else None, metric_name=head.metric,
                metric=last_point(history.val_metric, name) if history is not None else None,
                pending=name in self.pending.lr or name in self.pending.weight or name in self.pending.scale,
            ))
        rows.append(HeadRow(TRUNK, "shared", None, self.pending.lr.get(TRUNK, rates.get(TRUNK)), None, None, None,
                            None, None, pending=TRUNK in self.pending.lr))
        return rows

    def compare_rows(self, histories: Mapping[str, Any], with_best: bool) -> list[CompareRow]:
        """One row per head: every branch's train/best/val side by side, the best branch starred
        (lowest finite validation loss, else lowest train loss; never a diverged branch)."""
        assert self.branches is not None
        rates = self.in_force()[0]
        rows = []
        for head in self.heads:
            values = []
            for name in self.branches.names:
                report = self.branches.reports.get(name)
                history = histories.get(name)
                values.append([report.train_loss.get(head) if report else None,
                               history.best_train.get(head) if history is not None else None,
                               last_point(history.val, head) if history is not None else None, False,
                               report is not None and report.fault is not None])
            self._star(values)
            rows.append(CompareRow(head, self.pending.lr.get(head, rates.get(head)), head in self.pending.lr,
                                   tuple(tuple(v[:4]) + (v[4],) for v in values), with_best))
        rows.append(CompareRow(TRUNK, self.pending.lr.get(TRUNK, rates.get(TRUNK)), TRUNK in self.pending.lr,
                               tuple((None, None, None, False, False) for _ in self.branches.names), with_best))
        return rows

    @staticmethod
    def _star(values: list[list]) -> None:
        def ok(value: float | None) -> bool:
            return value is not None and math.isfinite(value)

        live = [v for v in values if not v[4]]
        with_val = [v for v in live if ok(v[2])]
        key = 2 if with_val and len(with_val) == len(live) else 0
        candidates = with_val if key == 2 else [v for v in live if ok(v[0])]
        if len(candidates) > 1:
            min(candidates, key=lambda v: v[key])[3] = True
