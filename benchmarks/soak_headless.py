"""Headless soak: many steps on a tiny preset, switching strategy every 1k steps; memory stays flat.

Prints resident memory (RSS) at step 1k and at the end, the history's size and steps/s.
Targets: flat once every strategy in the `s` list has been traced (issue 7: a leak shows as growth on
the second cycle); issue 16: within 150 MB of RSS at step 1k after cycling them all (each traced
strategy holds its graphs, ~28 MB each on the tiny preset: a stepper keeps the traces of the KEPT_TRACES most
recent ones: +146 MB with 3 kept, +160 MB with 4, +400 MB when every trace was kept); history bounded.

    python benchmarks/soak_headless.py [--steps 100000] [--every 1000]
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tests.conftest import tiny_preset  # noqa: E402
from tui_mtl.engine import Session  # noqa: E402
from tui_mtl.strategies.catalog import STRATEGY_NAMES  # noqa: E402


def rss_mb() -> float:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * resource.getpagesize() / 2**20


def history_points(session) -> int:
    history = session.history
    return sum(len(series) for table in (history.train, history.val, history.val_metric, history.diagnostics)
               for series in table.values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=100_000)
    parser.add_argument("--every", type=int, default=1000)
    args = parser.parse_args()
    session = Session(tiny_preset(training={"validate_every": 500}), report_interval=0.05)
    names = list(STRATEGY_NAMES)
    start = time.perf_counter()
    baseline = None
    for block in range(args.steps // args.every):
        session.set_strategy(names[block % len(names)])
        session.run(args.every)
        if block == 0:
            baseline = rss_mb()
            print(f"step {session.step_count}: RSS {baseline:.1f} MB, history {history_points(session)} points",
                  flush=True)
        elif (block + 1) % 10 == 0:
            print(f"step {session.step_count}: RSS {rss_mb():.1f} MB, history {history_points(session)} points, "
                  f"{session.step_count / (time.perf_counter() - start):.0f} steps/s", flush=True)
    end = rss_mb()
    print(f"RSS at step {args.every}: {baseline:.1f} MB; at step {session.step_count}: {end:.1f} MB; "
          f"growth {end - baseline:+.1f} MB (issue 16's target <= 150); history {history_points(session)} points; "
          f"events {len(session.events)}")


if __name__ == "__main__":
    main()
