"""Steady-state steps/s of the strategies, against Keras `fit` and against `summed`.

Same model, same initial weights, same batch stream; rounds are interleaved so machine noise hits
every contender alike. Targets:
  summed / fit >= 1.0
  time / summed time <= 1.15 * floor, floor = (1 + 2K) / 3 for strategies that need the K per-head
  trunk gradients (every layout but summed, and any aggregator but sum), 1 for summed, alternating
  and MGDA-UB (one trunk backward pass), +1/3 for `famo`'s second forward pass
  diagnostics overhead under summed at the default cadence <= 10%

    python benchmarks/bench_strategies.py [--steps 300] [--rounds 3] [--presets quickstart,seed-two-heads]
    [--strategies summed,grouped,... | all]

`--strategies all`: every aggregator on `summed` (and `mgda-ub`: mgda with representation = true),
every weighting on `summed`, and the layouts.

It runs on older versions too (their strategy names), for before/after figures in one command:
    PYTHONPATH=/path/to/old/checkout python benchmarks/bench_strategies.py --strategies summed,grouped
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from timing import fit_contender, interleaved_rates  # noqa: E402

from tui_mtl import Session, load_preset  # noqa: E402

DEFAULT = "summed,grouped,alternating,pcgrad,mgda,cagrad,imtl,pcgrad@grouped,mgda@grouped"


def every_method() -> list[str]:
    from tui_mtl.strategies.catalog import AGGREGATORS, LAYOUTS, WEIGHTINGS, StrategyName

    return [*LAYOUTS, *(StrategyName(a).canonical for a in AGGREGATORS if a != "sum"), MGDA_UB,
            *(f"summed+{w}" for w in WEIGHTINGS if w != "fixed")]


# mgda with `representation = true`: weighs the heads by their gradients at the trunk's output and
# takes one trunk backward pass, so its floor is summed's
MGDA_UB = "mgda-ub"
PARAMETERS = {MGDA_UB: {"name": "mgda", "aggregator": {"representation": True}}}


def per_head_gradients(strategy: str) -> bool:
    """Whether the strategy needs each head's trunk gradient (K backward passes through the trunk)."""
    base = strategy.partition("+")[0]
    return base not in ("summed", "alternating", "sum@summed", MGDA_UB)


def session_contender(preset, strategy, diagnostics_every=0):
    # validation and reports as rare as possible: we time training steps only
    preset = preset.with_changes(strategy=PARAMETERS.get(strategy, {"name": strategy}),
                                 training={"validate_every": 10**9, "diagnostics_every": diagnostics_every})
    session = Session(preset, report_interval=3600.0)
    return session, (lambda steps: session.run(steps))


def measure(preset_name: str, steps: int, rounds: int, strategies: list[str]) -> dict:
    preset = load_preset(preset_name)
    default_cadence = type(preset.training).model_fields["diagnostics_every"].default
    summed_session, summed = session_contender(preset, "summed")
    contenders = {"keras fit": fit_contender(preset, summed_session), "summed": summed}
    _, contenders["summed+diagnostics"] = session_contender(preset, "summed", default_cadence)
    for strategy in strategies:
        if strategy != "summed":
            _, contenders[strategy] = session_contender(preset, strategy)
    # the warm-up traces every variant (a diagnostic step included)
    return interleaved_rates(contenders, steps, rounds, warmup=2 * default_cadence)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--presets", default="quickstart,seed-two-heads")
    parser.add_argument("--strategies", default=DEFAULT)
    args = parser.parse_args()
    strategies = every_method() if args.strategies == "all" else args.strategies.split(",")
    for name in args.presets.split(","):
        k = len(load_preset(name).model.heads)
        rate = measure(name, args.steps, args.rounds, strategies)
        floor = (1 + 2 * k) / 3
        print(f"\n{name} (K={k}): steps/s, and time per step relative to summed")
        print(f"  {'contender':<20} {'steps/s':>8} {'t/summed':>9} {'floor':>6} {'target':>7}  ok")
        for contender, value in rate.items():
            relative = rate["summed"] / value
            if contender == "keras fit":
                target, shown_floor = 1.0, 1.0  # summed must be at least as fast: t/summed >= 1
                ok = relative >= target
            elif contender == "summed+diagnostics":
                shown_floor, target = 1.0, 1.10
                ok = relative <= target
            else:
                shown_floor = floor if per_head_gradients(contender) else 1.0
                if contender.endswith("+famo"):  # a second forward pass: one more third of a step
                    shown_floor += 1 / 3
                target = 1.15 * shown_floor
                ok = relative <= target
            print(f"  {contender:<20} {value:>8.0f} {relative:>9.2f} {shown_floor:>6.2f} {target:>7.2f}  "
                  f"{'yes' if ok else 'NO'}", flush=True)


if __name__ == "__main__":
    main()
