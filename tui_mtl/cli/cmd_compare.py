"""`tui-mtl compare PRESET --strategies a,b,c`: warm up, fork one branch per strategy, train every
branch on the same batches; a per-head table, and a run folder with a folder per branch."""

from __future__ import annotations

import argparse
import shlex
import sys

from tui_mtl.cli import args as cli_args
from tui_mtl.cli.output import DIVERGED, OK, BranchProgress, MetricsWriter, ProgressPrinter
from tui_mtl.cli.tables import comparison_table
from tui_mtl.cli.training import diverged_line, make_run_dir, open_recorder, preset_from_args, train
from tui_mtl.runs import folder_name


def parser() -> argparse.ArgumentParser:
    p = cli_args.Parser(
        prog="tui-mtl compare",
        description="Train WARMUP steps with the preset's strategy, fork one branch per strategy, and train "
                    "every branch STEPS steps on the same batches. Prints a per-head table. A branch that "
                    "diverges stops (it is never the best); exit code 3 if any did.")
    p.add_argument("preset", help="preset name or .toml path")
    p.add_argument("--strategies", required=True, type=cli_args.strategy_list,
                   help="comma-separated, e.g. summed,grouped,pcgrad")
    p.add_argument("--warmup", type=cli_args.non_negative_int, default=0, help="steps before the fork (default 0)")
    p.add_argument("--seeds", type=cli_args.positive_int, default=1, metavar="N",
                   help="repeat the comparison on N seeds (the preset's seed, +1, ...) and test the differences "
                        "per head: means with 95%% CIs, paired t-tests, a verdict (default 1)")
    p.add_argument("--vary", type=cli_args.vary_list, default=("init",), metavar="WHAT",
                   help="what differs between seeds: init, order, split, comma-separated (default init; "
                        "within a seed every strategy shares all three)")
    p.add_argument("--window", type=cli_args.positive_int, default=1, metavar="W",
                   help="with --seeds: compare each head's mean validation loss over the last W validations "
                        "after the fork, the final one included (default 1: the final validation)")
    cli_args.add_training_options(p, steps_help="steps per branch after the fork (default: the preset's)")
    cli_args.add_runs_dir(p)
    p.add_argument("--no-record", action="store_true", help="write no run folder")
    cli_args.add_device_options(p, devices_help=cli_args.PLACED)
    return p


def main(argv: list[str]) -> int:
    args = parser().parse_args(argv)
    preset_path, preset = preset_from_args(args)
    steps = args.steps or preset.training.steps
    if args.window > 1:  # refused before TensorFlow loads
        _check_window(args.window, args.seeds, args.warmup, steps, preset.training.validate_every)
    options, devices = cli_args.placement_options(args)  # --devices: a branch per device in turn
    heads = preset.model.head_names
    if args.seeds > 1:
        return _compare_seeds(args, preset, preset_path, steps, options, devices,
                              "tui-mtl compare " + shlex.join(argv))
    writer = MetricsWriter(args.metrics_out) if args.metrics_out else None
    from tui_mtl.engine import Session, State, fork

    session = Session(preset, base_dir=preset_path.parent, report_interval=0.5, **options)
    run_dir = None if args.no_record else make_run_dir(preset.name, args.runs_dir)
    recorders = [open_recorder(session, run_dir)] if run_dir else []
    try:
        if args.warmup:
            print(f"{preset.name}: warming up {args.warmup} steps with {session.strategy}", flush=True)
            if not args.quiet:
                session.subscribe(ProgressPrinter(heads, 0))
            report = train(session, lambda: session.run(args.warmup))
            if report is not None and report.state is State.FAULTED:
                print(diverged_line(report.fault, " during the warm-up"), file=sys.stderr)
                return DIVERGED
        comparison = fork(session, args.strategies, devices=devices)
        if run_dir:
            recorders += [open_recorder(branch, run_dir / "branches" / folder_name(name))
                          for name, branch in comparison.branches.items()]
        print(f"forked at step {comparison.fork_step} into {placed_names(list(comparison.branches), devices)}; "
              f"{steps} steps each on the same batches", flush=True)
        comparison.subscribe(BranchProgress(heads, writer, args.quiet))
        train(comparison, lambda: comparison.run(steps))
    finally:
        if writer:
            writer.close()
        for recorder in recorders:
            recorder.close()
    results = {name: branch.validate() for name, branch in comparison.branches.items()}
    print(f"per-head results after {steps} steps per branch (train loss: mean over the last report; "
          f"val: the held-out set; best val: lowest finite val loss, *)")
    print(comparison_table(comparison, results))
    if writer:
        print(f"metrics written to {writer.path}")
    if run_dir:
        page = _write_report(run_dir, comparison, results, preset, "tui-mtl compare " + shlex.join(argv))
        print(f"run folder: {run_dir} (a folder per branch under branches/)")
        print(f"report: {page} (one seed: add --seeds 5 for intervals and a tested verdict)")
    if comparison.diverged:
        for name, fault in comparison.diverged.items():
            print(diverged_line(fault, f" in branch {name}"), file=sys.stderr)
        return DIVERGED
    return OK


def _write_report(run_dir, comparison, results: dict, preset, command: str):
    """comparison.json and report.html for one seed: the final validation losses (NaN: diverged)."""
    import math

    from tui_mtl.cli.seeds import metric_name
    from tui_mtl.report.comparison_file import write_comparison
    from tui_mtl.report.data import ONE_SEED_BRANCHES
    from tui_mtl.stats import paired_differences

    heads = preset.model.head_names
    seed_results = {name: {h: [math.nan if name in comparison.diverged else float(val[h])] for h in heads}
                    for name, (val, _metric) in results.items()}
    return write_comparison(run_dir, seed_results, paired_differences(seed_results, heads), seeds=[preset.data.seed],
                            vary=[], metric=metric_name(1), command=command, branches=ONE_SEED_BRANCHES)


def _check_window(window: int, seeds: int, warmup: int, steps: int, validate_every: int) -> None:
    from tui_mtl.cli.seeds import validations_after_fork

    if seeds == 1:
        raise cli_args.UsageError("--window averages what --seeds compares: add --seeds N (N >= 2)")
    available = validations_after_fork(warmup, steps, validate_every)
    if window > available:
        enough = next(n for n in range(steps, steps + window * validate_every + 1)
                      if validations_after_fork(warmup, n, validate_every) >= window)
        raise cli_args.UsageError(
            f"--window {window}: a branch has only {available} validation(s) after the fork ({steps} steps, "
            f"validate_every = {validate_every}, the final one included); lower --window or use --steps {enough}")


def placed_names(names: list[str], devices: list[str] | None) -> str:
    """The branches, each with its device when they are placed on several (as fork places them)."""
    from tui_mtl.devices import short_name

    if not devices:
        return ", ".join(names)
    return ", ".join(f"{name} on {short_name(devices[i % len(devices)])}" for i, name in enumerate(names))


def _compare_seeds(args, preset, preset_path, steps: int, options: dict, devices: list[str] | None,
                   command: str) -> int:
    from tui_mtl.cli import seeds

    if args.metrics_out:
        raise cli_args.UsageError("--metrics-out follows one comparison; with --seeds each seed's branches "
                                  "keep their metrics.csv in the run folder (seed-N/branches/NAME)")
    for strategy in args.strategies:  # refused before any seed trains
        try:
            preset.strategy.check(strategy)
        except ValueError as err:
            raise cli_args.UsageError(f"--strategies: {err}") from None
    run_dir = None if args.no_record else make_run_dir(preset.name, args.runs_dir)
    if run_dir:  # the comparison's own preset (each seed's branches keep theirs)
        from tui_mtl.fileio import atomic_write_text

        atomic_write_text(run_dir / "preset.toml", preset.to_toml())
    print(f"{preset.name}: {', '.join(args.strategies)} on {args.seeds} seeds, {steps} steps each "
          f"(after {args.warmup} warm-up steps); seeds vary {', '.join(args.vary)}", flush=True)
    plans = seeds.seed_plans(preset, args.seeds, args.vary)
    if devices:
        print(f"each seed's branches: {placed_names(list(args.strategies), devices)}", flush=True)
    outcome = seeds.run_seeds(plans, args.strategies, steps, args.warmup, base_dir=preset_path.parent,
                              run_dir=run_dir, options=options, quiet=args.quiet, window=args.window,
                              devices=devices)
    # an interrupt reports the seeds done
    seeds.report(outcome, preset.model.head_names, args.vary, run_dir, command, args.window)
    return DIVERGED if outcome.diverged else OK
