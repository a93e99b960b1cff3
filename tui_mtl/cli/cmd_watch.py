"""`tui-mtl watch RUN`: plot a run's per-head losses live as its metrics.csv grows."""

from __future__ import annotations

import argparse
from pathlib import Path

from tui_mtl.cli import args as cli_args


def parser() -> argparse.ArgumentParser:
    p = cli_args.Parser(prog="tui-mtl watch",
                        description="Plot a run's per-head losses live: a Keras fit streamed with "
                                    "tui_mtl.keras.LiveCallback, or any tui-mtl run. Read only.")
    p.add_argument("run", help="run folder, its name under the runs dir, or `latest`")
    p.add_argument("--interval", type=cli_args.positive_float, default=0.5,
                   help="seconds between reads of metrics.csv (default 0.5)")
    cli_args.add_runs_dir(p)
    return p


def main(argv: list[str]) -> int:
    args = parser().parse_args(argv)
    from tui_mtl.runs import find_run

    run_dir = find_run(args.run, Path(args.runs_dir).expanduser() if args.runs_dir else None, marker="metrics.csv")
    from tui_mtl.ui.watch import run_watch

    return run_watch(run_dir, args.interval)
