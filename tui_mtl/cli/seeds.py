"""`compare --seeds N`: the comparison repeated on N seeds. Within a seed every strategy starts from
the same weights and sees the same batches (a fork); seeds differ in what `--vary` names. Then per
head: each strategy's mean validation loss with its interval, the seed-matched differences, and the
verdict (`tui_mtl.stats`). The value per head is the final validation loss, or with `--window W` the
mean of the branch's last W validations after the fork (the final one included): steadier when
validation losses wobble from one validation to the next."""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from pathlib import Path

from tui_mtl.cli.output import BranchProgress, fmt
from tui_mtl.cli.tables import seeds_table
from tui_mtl.cli.training import Stopper, diverged_line, open_recorder, stop_on_signals
from tui_mtl.presets import Preset
from tui_mtl.report.data import COMPARISON_FILE
from tui_mtl.runs import folder_name
from tui_mtl.stats import SeedResults, paired_differences, verdict_lines

VARY = ("init", "order", "split")


@dataclass(frozen=True)
class SeedPlan:
    seed: int
    preset: Preset  # with this seed's split and order
    init_seed: int  # the initial weights' seed


def seed_plans(preset: Preset, count: int, vary: tuple[str, ...]) -> list[SeedPlan]:
    """Seeds preset.data.seed, +1, ...; what is not varied keeps the preset's own seed."""
    base = preset.data.seed
    plans = []
    for seed in range(base, base + count):
        changed = preset
        if "split" in vary:
            changed = changed.with_changes(data={"seed": seed})
        if "order" in vary:
            changed = changed.with_changes(data={"order_seed": seed})
        plans.append(SeedPlan(seed, changed, seed if "init" in vary else base))
    return plans


@dataclass
class SeedsOutcome:
    results: SeedResults  # strategy -> head -> one final validation loss per seed (NaN: diverged)
    seeds: list[int]
    diverged: bool
    interrupted: bool


def validations_after_fork(warmup: int, steps: int, validate_every: int) -> int:
    """How many validations a branch has after the fork: those on the cadence before its last step,
    and the final one."""
    end = warmup + steps
    on_cadence = (end - 1) // validate_every - warmup // validate_every
    return on_cadence + 1


def windowed_losses(branch, fork_step: int, window: int) -> dict[str, float]:
    """Each head's mean validation loss over the branch's last `window` validations after the fork,
    the final one (taken now) included."""
    final = branch.validate()[0]
    means = {}
    for head, value in final.items():
        series = branch.history.val.get(head)
        steps, values = series.points() if series is not None else ([], [])
        earlier = [v for s, v in zip(steps, values) if fork_step < s < branch.step_count]
        kept = [*earlier[max(0, len(earlier) - (window - 1)):], value] if window > 1 else [value]
        means[head] = float(sum(kept) / len(kept))
    return means


def metric_name(window: int) -> str:
    return "final validation loss" if window == 1 else f"mean validation loss over the last {window} validations"


def run_seeds(plans: list[SeedPlan], strategies: list, steps: int, warmup: int, *, base_dir: Path,
              run_dir: Path | None, options: dict, quiet: bool, window: int = 1,
              devices: list[str] | None = None) -> SeedsOutcome:
    """Every seed in turn. A signal (ctrl+c, SIGTERM, SIGHUP) at any moment, building a seed included,
    stops at the next step: the seed under way is left out (its branches did not reach the same step)
    and no later seed starts; a second signal stops at once."""
    outcome = SeedsOutcome({}, [], diverged=False, interrupted=False)
    stopper = Stopper(None)
    try:
        with stop_on_signals(stopper):
            for i, plan in enumerate(plans):
                line = _one_seed(plan, strategies, steps, warmup, stopper, outcome, base_dir=base_dir,
                                 run_dir=run_dir, options=options, quiet=quiet, window=window, devices=devices)
                if stopper.stopped:
                    break
                if line is not None:
                    label = "val loss" if window == 1 else f"val loss (last {window})"
                    print(f"seed {plan.seed} ({i + 1}/{len(plans)}) {label}: {line}", flush=True)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        stopper.stopped = True
    outcome.interrupted = stopper.stopped
    return outcome


def _one_seed(plan: SeedPlan, strategies: list, steps: int, warmup: int, stopper: Stopper, outcome: SeedsOutcome,
              *, base_dir: Path, run_dir: Path | None, options: dict, quiet: bool, window: int,
              devices: list[str] | None) -> str | None:
    """Warm up, fork, train; adds the seed's losses to `outcome` unless it was stopped or its warm-up
    diverged. Returns the seed's line, or None."""
    from tui_mtl.engine import Session, State, fork

    session = Session(plan.preset, base_dir=base_dir, seed=plan.init_seed, report_interval=0.5, **options)
    heads = session.head_names
    recorders = []
    try:
        stopper.target = session
        if stopper.stopped:  # the signal came while the seed was built
            return None
        if warmup:
            session.run(warmup)
        if stopper.stopped:
            return None
        if session.state is State.FAULTED:
            print(diverged_line(session.fault, f" during seed {plan.seed}'s warm-up"), file=sys.stderr)
            outcome.diverged = True
            return None
        comparison = fork(session, strategies, devices=devices)
        stopper.target = comparison
        if run_dir:
            recorders = [open_recorder(branch, run_dir / f"seed-{plan.seed}" / "branches" / folder_name(name))
                         for name, branch in comparison.branches.items()]
        comparison.subscribe(BranchProgress(heads, None, quiet))
        if not stopper.stopped:
            comparison.run(steps)
        if stopper.stopped:
            return None
        parts = []
        for name, branch in comparison.branches.items():
            fault = comparison.diverged.get(name)
            if fault is not None:
                print(diverged_line(fault, f" in branch {name}, seed {plan.seed}"), file=sys.stderr)
                outcome.diverged = True
            losses = ({h: math.nan for h in heads} if fault is not None
                      else windowed_losses(branch, comparison.fork_step, window))
            for head in heads:
                outcome.results.setdefault(name, {}).setdefault(head, []).append(float(losses[head]))
            parts.append(f"{name} " + " ".join(f"{h} {fmt(losses[h])}" for h in heads))
        outcome.seeds.append(plan.seed)
        return "  |  ".join(parts)
    finally:
        stopper.target = None
        for recorder in recorders:
            recorder.close()
        session.close()


def report(outcome: SeedsOutcome, heads: list[str], vary: tuple[str, ...], run_dir: Path | None,
           command: str = "", window: int = 1) -> None:
    if not outcome.seeds:
        print("no seed finished: nothing to compare", file=sys.stderr)
        return
    if outcome.interrupted:
        print(f"stopped: {len(outcome.seeds)} seed(s) finished; the one under way is left out", flush=True)
    differences = paired_differences(outcome.results, heads)
    print(f"\n{metric_name(window)} over {len(outcome.seeds)} seeds ({', '.join(map(str, outcome.seeds))}; "
          f"varying {', '.join(vary)}): mean and 95% CI")
    print(seeds_table(outcome.results, heads))
    print("\nverdict:")
    for line in verdict_lines(differences, measured=metric_name(window)):
        print(f"  {line}")
    if run_dir:
        from tui_mtl.report.comparison_file import write_comparison

        page = write_comparison(run_dir, outcome.results, differences, seeds=outcome.seeds, vary=list(vary),
                                metric=metric_name(window), command=command, window=window)
        print(f"run folder: {run_dir} (seed-N/branches/ per seed; {COMPARISON_FILE}: every number above)")
        print(f"report: {page}")
