"""`tui-mtl run PRESET`: train headless, printing progress; a per-head table at the end."""

from __future__ import annotations

import argparse
import sys

from tui_mtl.cli import args as cli_args
from tui_mtl.cli.output import DIVERGED, OK, MetricsWriter, ProgressPrinter
from tui_mtl.cli.tables import summary_table
from tui_mtl.cli.training import (apply_settings, check_settings, diverged_line, make_run_dir, open_recorder,
                                  preset_from_args, train)


def parser() -> argparse.ArgumentParser:
    p = cli_args.Parser(prog="tui-mtl run", description="Train a preset headless, printing progress. Exit codes: "
                        "0 done, 2 bad input, 3 training diverged (the run folder keeps the last good step).")
    p.add_argument("preset", help="preset name or .toml path")
    p.add_argument("--strategy", type=cli_args.strategy_name, help="strategy to train with (default: the preset's)")
    p.add_argument("--lr", action="append", type=cli_args.head_value, metavar="HEAD=RATE",
                   help="a head's learning rate (or trunk=RATE); repeatable")
    p.add_argument("--weight", action="append", type=cli_args.head_value, metavar="HEAD=W",
                   help="a head's loss weight; repeatable")
    cli_args.add_training_options(p, steps_help="steps to train (default: the preset's)")
    cli_args.add_run_folder_options(p)
    cli_args.add_device_options(p)
    return p


def main(argv: list[str]) -> int:
    args = parser().parse_args(argv)
    preset_path, preset = preset_from_args(args)
    heads = preset.model.head_names
    check_settings(heads, args.lr, args.weight)
    writer = MetricsWriter(args.metrics_out) if args.metrics_out else None
    options = cli_args.session_options(args)
    from tui_mtl.engine import Session, State

    session = Session(preset, base_dir=preset_path.parent, report_interval=0.25, **options)
    recorder = None if args.no_record else open_recorder(session, make_run_dir(preset.name, args.runs_dir),
                                                         args.checkpoint_every)
    apply_settings(session, args.lr, args.weight, args.strategy)
    if not args.quiet:
        session.subscribe(ProgressPrinter(heads, session.step_count))
    if writer:
        session.subscribe(writer.write)
    steps = args.steps or preset.training.steps
    print(f"{preset.name}: {steps} steps, strategy {session.strategy}, heads {', '.join(heads)}", flush=True)
    try:
        report = train(session, lambda: session.run(steps))
    finally:
        if writer:
            writer.close()
        if recorder:
            recorder.close()
    print(summary_table(session, session.validate()))
    report = report or session.last_report
    if report is not None:
        print(f"{report.step} steps in {report.elapsed:.1f} s of training "
              f"({report.step / report.elapsed if report.elapsed else 0:.0f} steps/s)")
    if writer:
        print(f"metrics written to {writer.path}")
    if recorder:
        print(f"run folder: {recorder.run_dir}  (tui-mtl resume {recorder.run_dir.name}; "
              f"tensorboard --logdir {recorder.run_dir})")
    if report is not None and report.state is State.FAULTED and report.fault is not None:
        print(diverged_line(report.fault), file=sys.stderr)
        return DIVERGED
    return OK
