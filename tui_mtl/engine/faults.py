"""Faults: what to say when a step cannot be applied, and which change to blame for it.

The change blamed is the latest one the user made (a rate, a weight, a scale, a strategy): a rate of
1e9 wrecks the weights with finite-but-huge steps before a step goes non-finite, so the first
head whose loss is not finite says little. Rewind then goes to the snapshot taken before that change.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from tui_mtl.engine.reports import Fault, FaultKind


@dataclass(frozen=True)
class Change:
    step: int
    what: str  # e.g. "x lr=1e+09"


@dataclass(frozen=True)
class Blame:
    change: Change | None
    rewind_step: int | None  # where rewind goes: before the change, or the newest snapshot
    phrase: str  # ", 127 steps after x lr=1e+09 (at step 3,400)" or ""

    @property
    def blamed(self) -> str | None:
        return None if self.change is None else f"{self.change.what} at step {self.change.step:,}"


def blame(step: int, change: Change | None, newest_snapshot: int | None) -> Blame:
    if change is None:
        return Blame(None, newest_snapshot, "")
    ago = step - change.step
    return Blame(change, change.step,
                 f", {ago:,} step{'s' if ago != 1 else ''} after {change.what} (at step {change.step:,})")


def nonfinite_fault(step: int, heads: list[str], losses: tuple, why: Blame, faulty: tuple = ()) -> Fault:
    """`faulty`: per head, whether its loss was not finite or its own gradients not safe to apply (the
    step's guard: finite, with a finite square)."""
    bad = tuple(h for h, v in zip(heads, losses) if not math.isfinite(float(v)))
    gradients = tuple(h for h, flag in zip(heads, faulty) if flag)
    if bad:
        what = f"non-finite loss in {', '.join(bad)}"
    elif gradients:
        what = f"non-finite or overflowing gradient in {', '.join(gradients)}"
    else:
        what = "a non-finite or overflowing trunk gradient"
    advice = ("Rewind to before that change, or change it, then resume." if why.change else
              "Rewind, or lower a learning rate, then resume.")
    summary = f"step {step:,}: {what}{why.phrase}; the step was not applied"
    return Fault(FaultKind.LOSS if bad else FaultKind.GRADIENT, step, summary, advice, bad, why.blamed,
                 why.rewind_step)


def failed_fault(step: int, strategy: str, error: str, why: Blame) -> Fault:
    summary = f"step {step:,}: the {strategy} step failed{why.phrase} ({error}); nothing was applied"
    return Fault(FaultKind.FAILED, step, summary, "Rewind, or pick another strategy, then resume.", (), why.blamed,
                 why.rewind_step)
