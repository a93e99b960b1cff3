"""A cap on the UI thread's share of a core while training runs beside it.

On a box whose cores training keeps busy, steps/s under the app fell by about twice the UI thread's
share of a core (benchmarks/bench_ui.py), whatever the thread's scheduling priority or the GIL's
switch interval: what costs is the work itself. Plots are most of it and their cost grows with the
terminal and the number of plots shown, so a fixed plot rate cannot keep it bounded; a budget can.
"""

from __future__ import annotations

import time
from typing import Callable

# The UI's share of one core while training: about one redraw of three plots a second at 120x40 here.
TRAINING_SHARE = 0.03
# However much the redraws cost, the plots are never older than this.
LONGEST_WAIT = 3.0


class RefreshBudget:
    """Whether a redraw may start now: when the thread's CPU time since the last redraw began is under
    `share` of the wall time since then (that window holds the last redraw's own cost, however many
    frames it took), or when `longest_wait` has passed."""

    def __init__(self, share: float = TRAINING_SHARE, longest_wait: float = LONGEST_WAIT, *,
                 clock: Callable[[], float] = time.monotonic,
                 cpu: Callable[[], float] = time.thread_time) -> None:
        self.share = share
        self.longest_wait = longest_wait
        self._clock = clock
        self._cpu = cpu
        self._since: tuple[float, float] | None = None  # (wall, cpu) when the last redraw began

    def allows(self) -> bool:
        if self._since is None:
            return True
        wall = self._clock() - self._since[0]
        return wall >= self.longest_wait or self._cpu() - self._since[1] <= self.share * wall

    def begin(self) -> None:
        """A redraw begins now: the next one waits until this one is paid for."""
        self._since = (self._clock(), self._cpu())
