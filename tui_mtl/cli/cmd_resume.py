"""`tui-mtl resume RUN`: continue a run from its checkpoint, exactly where it stopped, to its own
target (or --steps more)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tui_mtl.cli import args as cli_args
from tui_mtl.cli.output import DIVERGED, OK, ProgressPrinter
from tui_mtl.cli.tables import summary_table
from tui_mtl.cli.training import diverged_line, open_recorder, train
from tui_mtl.presets import read_preset


def parser() -> argparse.ArgumentParser:
    p = cli_args.Parser(prog="tui-mtl resume",
                        description="Continue a run from its checkpoint, exactly where it stopped: to the run's own "
                                    "target step, or --steps more. Exit codes as for run.")
    p.add_argument("run", help="run folder, its name under the runs dir, or `latest`")
    p.add_argument("--steps", type=cli_args.positive_int, help="train this many more steps (default: up to the "
                                                               "run's own target, or the preset's steps if reached)")
    cli_args.add_runs_dir(p)
    p.add_argument("--checkpoint-every", type=cli_args.positive_int, metavar="N", help="also checkpoint every N steps")
    p.add_argument("--quiet", action="store_true", help="print only the final table")
    cli_args.add_device_options(p)
    return p


def main(argv: list[str]) -> int:
    args = parser().parse_args(argv)
    from tui_mtl.engine.checkpoint import read_meta, resume_target
    from tui_mtl.runs import find_run

    run_dir = find_run(args.run, Path(args.runs_dir).expanduser() if args.runs_dir else None)
    checkpoint_file = run_dir / "checkpoint.npz"
    if not checkpoint_file.is_file():
        raise cli_args.UsageError(f"{run_dir}: no checkpoint.npz to resume from")
    preset = cli_args.device_options(args).compiled(read_preset(run_dir / "preset.toml"))
    meta = read_meta(checkpoint_file)
    options = cli_args.session_options(args, mixed_precision=meta.get("mixed_precision", "off"))
    from tui_mtl.engine import Session, State

    session = Session(preset, base_dir=run_dir, report_interval=0.25, **options)
    session.load_checkpoint(checkpoint_file)
    target = resume_target(session.step_count, meta.get("target"), preset.training.steps, args.steps)
    recorder = open_recorder(session, run_dir, args.checkpoint_every)
    if not args.quiet:
        session.subscribe(ProgressPrinter(preset.model.head_names, session.step_count))
    print(f"{run_dir.name}: resuming at step {session.step_count} with {session.strategy} up to step {target}",
          flush=True)
    try:
        report = train(session, lambda: session.run_to(target))
    finally:
        recorder.close()
    print(summary_table(session, session.validate()))
    print(f"run folder: {run_dir}")
    if report is not None and report.state is State.FAULTED and report.fault is not None:
        print(diverged_line(report.fault), file=sys.stderr)
        return DIVERGED
    return OK
