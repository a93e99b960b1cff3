"""A fork's cost: N branches in lockstep vs N times one session's steps, same preset, one run.

Target (issue 5): time(2 branches, S steps) / (2 x time(1 session, S steps)) <= 1.05.

    python benchmarks/bench_compare.py [--preset quickstart] [--steps 400] [--rounds 3] [--branches 2]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from tui_mtl import Session, load_preset  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="quickstart")
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--branches", type=int, default=2)
    args = parser.parse_args()
    preset = load_preset(args.preset).with_changes(training={"validate_every": 10**9, "diagnostics_every": 0})

    single = Session(preset, report_interval=3600.0)
    parent = Session(preset, report_interval=3600.0)
    comparison = parent.fork([preset.strategy.name] * args.branches)
    single.run(50)  # trace and warm up
    comparison.run(50)
    singles, forks = [], []
    for _ in range(args.rounds):
        start = time.perf_counter()
        single.run(args.steps)
        singles.append(time.perf_counter() - start)
        start = time.perf_counter()
        comparison.run(args.steps)
        forks.append(time.perf_counter() - start)
    one, many = statistics.median(singles), statistics.median(forks)
    ratio = many / (args.branches * one)
    print(f"{args.preset}: 1 session {args.steps / one:.0f} steps/s; {args.branches} branches "
          f"{args.steps / many:.0f} lockstep steps/s")
    print(f"time({args.branches} branches) / ({args.branches} x time(1 session)) = {ratio:.3f} "
          f"(target <= 1.05: {'yes' if ratio <= 1.05 else 'NO'})")


if __name__ == "__main__":
    main()
