"""An Optuna study over one Session: each trial resets the session (fresh weights, every optimizer
as new: it trains exactly like a new Session, without rebuilding or retracing), sets the trial's
rates and weights, and trains, reporting the objective after every `validate_every` steps so the
median pruner can stop a poor trial early. A trial whose training diverges fails (Optuna's FAIL),
with the engine's one-line reason kept as a user attribute. Any Optuna storage URL lets several
processes or machines share one study; `trials` caps the study's total, not this process's.

With `pareto`, every head's validation loss is an objective of its own (Optuna's multi-objective
TPE): the study's answer is the Pareto front, trials no other beats on every head. Optuna does not
prune multi-objective trials, so each trains all its steps."""

from __future__ import annotations

import math
import os
import socket
from dataclasses import dataclass, field
from typing import Any, Callable

from tui_mtl.errors import TuiMtlError
from tui_mtl.sweep.space import Range

LR, WEIGHT = "lr", "weight"


def param_name(kind: str, head: str) -> str:
    return f"{kind}:{head}"


def objective_value(val_loss: dict, weights: dict, head: str | None) -> float:
    """One head's validation loss, or the weighted sum over heads (the preset's weights)."""
    if head is not None:
        return float(val_loss[head])
    return float(sum(weights[h] * val_loss[h] for h in val_loss))


@dataclass
class SweepSpec:
    lrs: list[Range]
    weights: list[Range] = field(default_factory=list)
    steps: int = 500
    trials: int = 20
    objective_head: str | None = None  # None: sum_i w_i val_loss_i
    pareto: bool = False  # one objective per head (in head order); no pruning
    storage: str | None = None  # an Optuna storage URL (None: in memory)
    study_name: str = "tui-mtl"
    sampler_seed: int | None = None


class StudyMismatch(TuiMtlError):
    """The storage already holds a study of that name with another number of objectives."""


def open_study(spec: SweepSpec, heads: list[str]):
    """The study, created or joined. Joining one with another number of objectives would fail every
    trial (or crash on its answer), so it is refused with what to do."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)  # each trial gets one line from `on_trial`
    wanted = len(heads) if spec.pareto else 1
    study = optuna.create_study(study_name=spec.study_name, storage=spec.storage, load_if_exists=True,
                                directions=["minimize"] * wanted,
                                sampler=optuna.samplers.TPESampler(seed=spec.sampler_seed),
                                pruner=optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=0))
    if len(study.directions) != wanted:
        kind = lambda n: "one objective" if n == 1 else f"{n} objectives (a Pareto sweep)"  # noqa: E731
        raise StudyMismatch(f"study {spec.study_name!r} in {spec.storage} has {kind(len(study.directions))}; this "
                            f"sweep has {kind(wanted)}: name another study with --study")
    return study


def run_study(session, spec: SweepSpec, study, on_trial: Callable[[Any, Any], None] | None = None,
              stop_requested: Callable[[], bool] = lambda: False):
    """Optimise `study` (from `open_study`); returns it (its trials hold every number).
    `stop_requested()` is asked after every chunk of steps: the running trial is then pruned and the
    study stops."""
    import optuna
    from optuna.study import MaxTrialsCallback

    from tui_mtl.engine import State

    weights = dict(session.weights)  # the objective's weights: the preset's, not a trial's
    every = session.preset.training.validate_every
    heads = list(session.head_names)
    failed = [math.nan] * len(heads) if spec.pareto else math.nan  # Optuna marks such a trial FAIL

    def objective(trial) -> float | list[float]:
        trial.set_user_attr("process", f"{socket.gethostname()}:{os.getpid()}")  # who ran it, in a shared study
        session.reset()
        for r in spec.lrs:
            session.set_lr(r.head, trial.suggest_float(param_name(LR, r.head), r.low, r.high, log=True))
        for r in spec.weights:
            session.set_weight(r.head, trial.suggest_float(param_name(WEIGHT, r.head), r.low, r.high, log=True))
        done, value, losses = 0, math.nan, {}
        while done < spec.steps:
            chunk = min(every, spec.steps - done)
            report = session.run(chunk)
            done += chunk
            if stop_requested():
                trial.study.stop()
                raise optuna.TrialPruned()
            if report.state is State.FAULTED:
                trial.set_user_attr("diverged", report.fault.summary)
                return failed  # the sampler learns to avoid it
            losses = session.validate()[0]
            value = objective_value(losses, weights, spec.objective_head)
            if not math.isfinite(value):
                trial.set_user_attr("diverged", f"step {done}: non-finite validation loss")
                return failed
            if not spec.pareto:
                trial.report(value, done)
                if done < spec.steps and trial.should_prune():  # at the last step the work is done: keep it
                    raise optuna.TrialPruned()
        trial.set_user_attr("val_loss", {h: float(v) for h, v in losses.items()})  # every head, for the report
        return [float(losses[h]) for h in heads] if spec.pareto else value

    callbacks: list[Callable] = [MaxTrialsCallback(spec.trials, states=None)]
    if on_trial is not None:
        callbacks.append(on_trial)
    study.optimize(objective, n_trials=spec.trials, callbacks=callbacks, catch=())
    return study
