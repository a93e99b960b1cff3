"""The training loop a Session and a Comparison share: commands at step boundaries, pause and stop,
time-batched reports.

A trainer provides `_drain()` (apply queued commands), `_stop` (an Event), `_paused`,
`_wait_while_paused()`, `step_count`, `_train_one()` (one step; may pause itself on a non-finite
value), `_report_due()` and `_publish(state)`.
"""

from __future__ import annotations

from tui_mtl.reports import FINISHED, PAUSED, RUNNING, STOPPED


def run_loop(trainer, target: int) -> str:
    """Train until `step_count` reaches `target` or a stop is asked for; returns the final state."""
    while True:
        trainer._drain()
        if trainer._stop.is_set():
            return STOPPED
        if trainer._paused:
            trainer._publish(PAUSED)
            trainer._wait_while_paused()
            continue
        if trainer.step_count >= target:
            return FINISHED
        trainer._train_one()
        if trainer._paused or trainer._report_due():
            trainer._publish(PAUSED if trainer._paused else RUNNING)
