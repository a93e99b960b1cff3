"""Fused steps (training.steps_per_call) against Keras `fit` with and without steps_per_execution.

Same model, same initial weights, same batch stream; rounds alternate so machine noise hits every
contender alike. Targets (issue 16):
  summed (auto) / fit(steps_per_execution=16) >= 1.10 on a tiny model, >= 1.00 where compute dominates
  grouped time / summed time <= (1 + 2K) / 3

    python benchmarks/bench_fused.py [--steps 600] [--rounds 3] [--models tiny,quickstart,seed-two-heads,heavy]
    python benchmarks/bench_fused.py --mirrored   # MirroredStrategy over 2 logical CPUs: fused vs 1 step per call
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from timing import fit_contender, interleaved_rates  # noqa: E402

from tui_mtl import Session, load_preset  # noqa: E402


def model_preset(name: str):
    """A shipped preset, or `tiny` (12x12 input, batch 32: Python overhead dominates) or `heavy`
    (quickstart at 64x64 with wider layers: a step takes tens of ms, compute dominates)."""
    base = load_preset("quickstart")
    if name == "tiny":
        return base.with_changes(model={"input_shape": [12, 12, 1], "trunk": [
            {"type": "conv2d", "filters": 4, "kernel_size": 3}, {"type": "flatten"}, {"type": "dense", "units": 16}]},
            data={"params": {"image_size": 12, "samples": 2048}})
    if name == "heavy":
        return base.with_changes(model={"input_shape": [64, 64, 1], "trunk": [
            {"type": "conv2d", "filters": 32, "kernel_size": 3}, {"type": "max_pool", "pool_size": 2},
            {"type": "conv2d", "filters": 64, "kernel_size": 3}, {"type": "max_pool", "pool_size": 2},
            {"type": "flatten"}, {"type": "dense", "units": 128}]},
            data={"params": {"image_size": 64, "samples": 2048}})
    return load_preset(name)


def session_contender(preset, strategy: str, per_call, distribution=None):
    # validation, diagnostics and reports as rare as possible: we time training steps only
    preset = preset.with_changes(strategy={"name": strategy},
                                 training={"validate_every": 10**9, "diagnostics_every": 0,
                                           "steps_per_call": per_call})
    session = Session(preset, report_interval=3600.0, distribution=distribution)
    return session, (lambda steps: session.run(steps))


def measure_mirrored(preset, steps: int, rounds: int) -> dict:
    """Under MirroredStrategy (each step's plan summed over replicas): fused calls vs one step per call."""
    from tui_mtl.devices import make_distribution

    dist = make_distribution([0, 1])
    contenders = {}
    for strategy in ("summed", "grouped"):
        for per_call in (1, "auto"):
            _, contenders[f"{strategy} {per_call}/call"] = session_contender(preset, strategy, per_call, dist)
    return interleaved_rates(contenders, steps, rounds, warmup=100)


def measure(preset, steps: int, rounds: int) -> dict:
    summed_session, summed_single = session_contender(preset, "summed", 1)
    contenders = {"fit spe=1": fit_contender(preset, summed_session, 1),
                  "fit spe=16": fit_contender(preset, summed_session, 16),
                  "summed 1/call": summed_single}
    for strategy in ("summed", "grouped", "pcgrad"):
        _, contenders[f"{strategy} auto"] = session_contender(preset, strategy, "auto")
    # the warm-up traces and lets "auto" measure its step time
    return interleaved_rates(contenders, steps, rounds, warmup=200)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--models", default="tiny,quickstart,seed-two-heads,heavy")
    parser.add_argument("--mirrored", action="store_true", help="2 logical CPUs under MirroredStrategy")
    args = parser.parse_args()
    if args.mirrored:
        import tensorflow as tf

        cpu = tf.config.list_physical_devices("CPU")[0]  # before TensorFlow starts
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
        for name in args.models.split(","):
            rate = measure_mirrored(model_preset(name), args.steps if name != "heavy" else max(60, args.steps // 10),
                                    args.rounds)
            print(f"\n{name}, 2 replicas: steps/s  " + "  ".join(f"{c} {v:.0f}" for c, v in rate.items()))
            print(f"  fused / 1 per call: summed {rate['summed auto/call'] / rate['summed 1/call']:.2f}, "
                  f"grouped {rate['grouped auto/call'] / rate['grouped 1/call']:.2f}", flush=True)
        return
    for name in args.models.split(","):
        preset = model_preset(name)
        k = len(preset.model.heads)
        rate = measure(preset, args.steps if name != "heavy" else max(60, args.steps // 10), args.rounds)
        print(f"\n{name} (K={k}): steps/s")
        for contender, value in rate.items():
            print(f"  {contender:<15} {value:>8.0f}")
        fused, fit16 = rate["summed auto"], rate["fit spe=16"]
        print(f"  summed auto / fit spe=16: {fused / fit16:.2f}   summed auto / summed 1 per call: "
              f"{fused / rate['summed 1/call']:.2f}   grouped time / summed: {fused / rate['grouped auto']:.2f} "
              f"(floor {(1 + 2 * k) / 3:.2f})   pcgrad time / summed: {fused / rate['pcgrad auto']:.2f}", flush=True)


if __name__ == "__main__":
    main()
