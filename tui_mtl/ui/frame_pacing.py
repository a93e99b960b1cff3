"""Frames drawn as soon as something changed, at most MAX_FPS a second.

Textual draws a screen from an update timer that it pauses while nothing is dirty and resumes when
something is. That timer keeps to a fixed grid of ticks and, having fallen behind the grid while
paused, sleeps to the next-but-one slot: a change that comes just after a frame waits one to two
frame intervals (33-66 ms at 30 fps). That was most of a key's latency when the key's effect arrives
in a report a few ms after the key's own frame (space: the pause is applied by the training thread),
or when the key lands just after a plot's frame. A PacedTimer draws at once when the last frame is an
interval old, else when it will be: the same cap on the frame rate, no wait beyond it.

Textual 8.x internals (the screen's `_update_timer`, Timer's `_run`/`_tick`/`_active`): the
dependency is pinned to <9 in pyproject.toml.
"""

from __future__ import annotations

import math

import textual.screen
from textual import _time
from textual.timer import EventTargetGone, Timer


class PacedTimer(Timer):
    """A repeating timer for callbacks that pause it when done: a resume fires at once if the last
    tick is `interval` old, otherwise `interval` after the last tick."""

    async def _run(self) -> None:
        last = -math.inf
        count = 0
        while self._repeat is None or count <= self._repeat:
            await self._active.wait()
            wait = last + self._interval - _time.get_time()
            if wait > 0:
                await _time.sleep(wait)
                await self._active.wait()
            last = _time.get_time()
            count += 1
            try:
                await self._tick(next_timer=last, count=count)
            except EventTargetGone:
                break


class PacedUpdates:
    """Mixin for a Screen (listed before Screen): its frames are paced by a PacedTimer."""

    _paced_update_timer: PacedTimer | None = None

    @property
    def _update_timer(self) -> Timer:
        if self._paced_update_timer is None:
            screen: textual.screen.Screen = self  # type: ignore[assignment]
            timer = PacedTimer(screen, textual.screen.UPDATE_PERIOD, name="screen_update",
                               callback=screen._on_timer_update, pause=True)
            timer._start()
            screen._timers.add(timer)
            self._paced_update_timer = timer
        return self._paced_update_timer
