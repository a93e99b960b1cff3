"""`tui-mtl sweep PRESET --lr x=1e-5:1e-1 --lr trunk=1e-4:1e-2 --trials 30 --steps 500`: an Optuna
search (TPE, median pruning) of per-head rates (and weights), on one Session reset per trial."""

from __future__ import annotations

import argparse
import math
import shlex

from tui_mtl.cli import args as cli_args
from tui_mtl.cli.output import OK, fmt
from tui_mtl.cli.training import Stopper, make_run_dir, preset_from_args, train

PARETO = "pareto"


def range_arg(text: str):
    from tui_mtl.sweep import parse_range

    try:
        return parse_range(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def parser() -> argparse.ArgumentParser:
    p = cli_args.Parser(
        prog="tui-mtl sweep",
        description="Search per-head learning rates (and weights) with Optuna: TPE sampling, median pruning on "
                    "the validation objective every validate_every steps. Each trial trains the preset from its "
                    "initial weights. Several processes may share one study through --storage.")
    p.add_argument("preset", help="preset name or .toml path")
    p.add_argument("--strategy", type=cli_args.strategy_name, help="strategy of every trial (default: the preset's)")
    p.add_argument("--lr", action="append", type=range_arg, default=[], metavar="HEAD=LOW:HIGH",
                   help="a rate to search on a log scale (trunk=LOW:HIGH for the trunk); repeatable")
    p.add_argument("--weight", action="append", type=range_arg, default=[], metavar="HEAD=LOW:HIGH",
                   help="a loss weight to search on a log scale; repeatable")
    p.add_argument("--trials", type=cli_args.positive_int, default=20,
                   help="the study's number of trials, counted over every process sharing it (default 20)")
    p.add_argument("--objective", metavar="HEAD",
                   help="minimise this head's validation loss, or `pareto`: every head's at once (Optuna's "
                        "multi-objective TPE, no pruning), answered by the Pareto front (default: the "
                        "preset-weighted sum over heads)")
    p.add_argument("--storage", metavar="URL",
                   help="an Optuna storage URL, e.g. sqlite:///sweep.db, shared by processes and machines "
                        "(default: in memory)")
    p.add_argument("--study", metavar="NAME", help="the study's name in the storage (default: PRESET-STRATEGY, "
                                                       "+ -HEAD or -pareto with --objective)")
    p.add_argument("--sampler-seed", type=cli_args.seed, help="the TPE sampler's seed (default: random)")
    p.add_argument("--save", metavar="NAME", help="save the best trial's settings as a user preset NAME")
    p.add_argument("--steps", type=cli_args.positive_int, help="steps per trial (default: the preset's)")
    p.add_argument("--seed", type=cli_args.seed, help="data and initialisation seed (default: the preset's)")
    cli_args.add_runs_dir(p)
    p.add_argument("--no-record", action="store_true", help="write no run folder (sweep.json and report.html)")
    cli_args.add_device_options(p)
    return p


def _check(args, preset) -> None:
    """Every name and number, before TensorFlow loads."""
    from tui_mtl.presets import check_preset_name
    from tui_mtl.strategies.catalog import parse_strategy

    heads = preset.model.head_names
    if not args.lr and not args.weight:
        raise cli_args.UsageError("name something to search: --lr HEAD=LOW:HIGH or --weight HEAD=LOW:HIGH")
    for flag, ranges, known in (("--lr", args.lr, [*heads, "trunk"]), ("--weight", args.weight, heads)):
        for r in ranges:
            if r.head not in known:
                raise cli_args.UsageError(f"{flag} {r.text()}: unknown head {r.head!r}; heads are {', '.join(known)}")
    if args.objective is not None and args.objective not in (*heads, PARETO):
        raise cli_args.UsageError(f"--objective {args.objective}: unknown head; heads are {', '.join(heads)} "
                                  f"(or {PARETO}: every head at once)")
    if args.objective == PARETO and args.save:
        raise cli_args.UsageError(f"--save {args.save}: a Pareto sweep has no single best trial; pick one from its "
                                  f"front (each line prints its `tui-mtl run` flags) or sweep one --objective")
    if args.save and (problem := check_preset_name(args.save)):
        raise cli_args.UsageError(f"--save {args.save}: {problem}")
    strategy = args.strategy or preset.strategy.name
    try:
        layout = parse_strategy(preset.strategy.check(strategy)).layout
    except ValueError as err:
        raise cli_args.UsageError(f"--strategy: {err}") from None
    if layout != "summed" and any(r.head == "trunk" for r in args.lr):
        raise cli_args.UsageError(f"--lr trunk=...: under the {layout} layout each head's optimizer moves the trunk "
                                  f"at that head's rate, so there is no trunk rate to search (it matters under "
                                  f"the summed layout)")


class TrialPrinter:
    """One line per finished trial, as Optuna reports it."""

    def __init__(self, names: list[str], heads: list[str] | None = None):
        self.names = names
        self.heads = heads  # a Pareto sweep: one value per head

    def __call__(self, study, trial) -> None:
        settings = ", ".join(f"{name.replace(':', ' ')} {trial.params[name]:.3g}" for name in self.names
                             if name in trial.params)
        state = trial.state.name
        if state == "COMPLETE" and self.heads:
            tail = "val loss " + " ".join(f"{h} {fmt(v)}" for h, v in zip(self.heads, trial.values))
        elif state == "COMPLETE":
            best = study.best_trial
            tail = f"objective {fmt(trial.value)}  (best {fmt(best.value)}, trial {best.number})"
        elif state == "PRUNED":
            step = max(trial.intermediate_values) if trial.intermediate_values else 0
            tail = f"pruned at step {step} (worse than the median of earlier trials there)"
        else:
            tail = f"failed: {trial.user_attrs.get('diverged', 'see the storage for why')}"
        print(f"trial {trial.number} {settings}: {tail}", flush=True)


def main(argv: list[str]) -> int:
    args = parser().parse_args(argv)
    preset_path, preset = preset_from_args(args)
    _check(args, preset)
    options = cli_args.session_options(args)
    from tui_mtl.engine import Session
    from tui_mtl.sweep.study import LR, WEIGHT, SweepSpec, open_study, param_name, run_study

    session = Session(preset, base_dir=preset_path.parent, report_interval=3600.0, **options)
    if args.strategy:
        session.set_strategy(args.strategy)
    steps = args.steps or preset.training.steps
    spec = SweepSpec(lrs=args.lr, weights=args.weight, steps=steps, trials=args.trials,
                     objective_head=None if args.objective == PARETO else args.objective,
                     pareto=args.objective == PARETO, storage=args.storage,
                     study_name=args.study or _default_study(preset.name, session.strategy, args.objective),
                     sampler_seed=args.sampler_seed)
    study = open_study(spec, list(session.head_names))  # before the run folder: a mismatch leaves none
    names = [param_name(LR, r.head) for r in args.lr] + [param_name(WEIGHT, r.head) for r in args.weight]
    if spec.pareto:
        objective = "every head's val loss (" + ", ".join(session.head_names) + "): the Pareto front"
    elif args.objective:
        objective = f"{args.objective}'s val loss"
    else:
        objective = "sum_i w_i val_loss_i (" + ", ".join(f"{h} {fmt(w)}" for h, w in session.weights.items()) + ")"
    print(f"{preset.name}: sweeping {', '.join(r.text() for r in args.lr + args.weight)} with {session.strategy}, "
          f"{steps} steps per trial, study {spec.study_name!r} ({args.trials} trials in all); minimising "
          f"{objective}", flush=True)
    heads = list(session.head_names)
    printer = TrialPrinter(names, heads if spec.pareto else None)
    record = None
    if not args.no_record:
        from tui_mtl.fileio import atomic_write_text
        from tui_mtl.sweep.record import SweepRecord

        run_dir = make_run_dir(f"{preset.name}-sweep", args.runs_dir)
        atomic_write_text(run_dir / "preset.toml", preset.to_toml())
        record = SweepRecord(run_dir, {"names": names, "heads": heads, "objective": objective, "pareto": spec.pareto,
                                       "strategy": session.strategy, "steps": steps, "study": spec.study_name,
                                       "command": "tui-mtl sweep " + shlex.join(argv)})

    def on_trial(study, trial) -> None:
        printer(study, trial)
        if record is not None:
            record(study, trial)

    stopper = Stopper(session)  # ctrl+c / SIGTERM: the running trial is pruned, then the study stops
    study = train(stopper, lambda: run_study(session, spec, study, on_trial, lambda: stopper.stopped))
    if study is None:  # a second ctrl+c: the storage and sweep.json keep the trials that finished
        return OK
    code = _report(study, names, preset, session, args, heads if spec.pareto else None)
    if record is not None:
        from tui_mtl.report.sweep import write_sweep_html

        record.write(study)  # with the study's final state (a trial pruned by the stop included)
        run_dir = record.path.parent
        print(f"run folder: {run_dir} (sweep.json: every trial)\nreport: {write_sweep_html(run_dir)}")
    return code


def _default_study(preset: str, strategy: str, objective: str | None) -> str:
    """PRESET-STRATEGY, and -pareto or -HEAD when the objective is not the weighted sum: a study holds
    one objective, and joining it with another would mix numbers that do not compare."""
    return f"{preset}-{strategy}" + (f"-{objective}" if objective else "")


def _report(study, names: list[str], preset, session, args, pareto_heads: list[str] | None = None) -> int:
    done = [t for t in study.trials if t.state.name == "COMPLETE" and t.values is not None
            and all(math.isfinite(v) for v in t.values)]
    counts = {state: sum(t.state.name == state for t in study.trials) for state in ("COMPLETE", "PRUNED", "FAIL")}
    print(f"\n{len(study.trials)} trials: {counts['COMPLETE']} complete, {counts['PRUNED']} pruned, "
          f"{counts['FAIL']} failed (diverged)")
    if not done:
        print("no trial completed: widen the ranges or lower the rates")
        return OK
    if pareto_heads:
        return _report_front(study, names, session, args, pareto_heads)
    rows = [("trial", *names, "objective")]
    for t in sorted(done, key=lambda t: t.value)[:5]:
        rows.append((str(t.number), *(f"{t.params[n]:.3g}" for n in names), fmt(t.value)))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())
    best = study.best_trial
    flags = _flags(best, names)
    print(f"best: trial {best.number}, objective {fmt(best.value)}; to train with it: tui-mtl run {args.preset} "
          f"--strategy {session.strategy} {flags}")
    if args.save:
        _save(session, best, names, args.save, preset)
    return OK


def _flags(trial, names: list[str]) -> str:
    return " ".join(f"--{n.split(':')[0]} {n.split(':')[1]}={trial.params[n]:.3g}" for n in names)


def _report_front(study, names: list[str], session, args, heads: list[str]) -> int:
    """The Pareto front: every trial no other beats on every head, lowest first on the first head."""
    front = sorted(study.best_trials, key=lambda t: t.values)
    print(f"Pareto front: {len(front)} trial(s) that no other trial beats on every head's val loss")
    rows = [("trial", *names, *heads)]
    for t in front:
        rows.append((str(t.number), *(f"{t.params[n]:.3g}" for n in names), *(fmt(v) for v in t.values)))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())
    for t in front:
        print(f"trial {t.number}: tui-mtl run {args.preset} --strategy {session.strategy} {_flags(t, names)}")
    return OK


def _save(session, trial, names: list[str], name: str, preset) -> None:
    from tui_mtl.presets import save_user_preset

    session.reset()
    for n in names:
        kind, head = n.split(":")
        (session.set_lr if kind == "lr" else session.set_weight)(head, trial.params[n])
    session.flush()
    saved = session.current_preset(name, f"{preset.description} (sweep: trial {trial.number}, objective "
                                         f"{trial.value:.4g})")
    try:
        path = save_user_preset(saved)
    except FileExistsError:
        raise cli_args.UsageError(f"--save {name}: a preset of that name exists (or is shipped); choose another "
                                  f"name") from None
    print(f"saved the best settings as preset {name!r}: {path}")
