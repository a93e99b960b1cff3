"""On a machine with GPUs: steps/s of Keras `fit` (steps_per_execution 1 and 16) against summed,
grouped and pcgrad, fused (auto) and one step per call, with and without XLA; the device memory
each strategy's session peaks at; and MirroredStrategy over every visible GPU against one.

Same model, initial weights and batches for every contender; rounds alternate so noise hits every
contender alike. On a CPU-only machine it says so and exits 0 (`--allow-cpu` runs it anyway, as a
smoke test of the script). About 3-5 minutes on one GPU.

    python benchmarks/bench_gpu.py [--model heavy|quickstart|tiny] [--steps 400] [--rounds 3] [--allow-cpu]
"""

from __future__ import annotations

import argparse
import sys

from tui_mtl.cli.args import quiet_tensorflow_import

quiet_tensorflow_import()  # without CUDA's probing chatter on CPU-only boxes

import tensorflow as tf  # noqa: E402
from bench_fused import model_preset  # noqa: E402
from timing import fit_contender, interleaved_rates  # noqa: E402

from tui_mtl import Session  # noqa: E402
from tui_mtl.devices import configure, make_distribution  # noqa: E402

STRATEGIES = ("summed", "grouped", "pcgrad")


def session_for(preset, strategy: str, per_call, *, jit: bool = False, distribution=None) -> Session:
    # validation, diagnostics and reports as rare as possible: we time training steps only
    preset = preset.with_changes(strategy={"name": strategy},
                                 training={"validate_every": 10**9, "diagnostics_every": 0,
                                           "steps_per_call": per_call, "jit_compile": jit})
    return Session(preset, report_interval=3600.0, distribution=distribution)


def runner(session: Session):
    return lambda steps: session.run(steps)


def speed(preset, steps: int, rounds: int, jit_too: bool) -> dict[str, float]:
    reference = session_for(preset, "summed", 1)
    contenders = {"fit spe=1": fit_contender(preset, reference, 1),
                  "fit spe=16": fit_contender(preset, reference, 16),
                  "summed 1/call": runner(reference)}
    for strategy in STRATEGIES:
        contenders[f"{strategy} fused"] = runner(session_for(preset, strategy, "auto"))
        if jit_too:
            contenders[f"{strategy} fused+XLA"] = runner(session_for(preset, strategy, "auto", jit=True))
    return interleaved_rates(contenders, steps, rounds, warmup=200)


def peak_memory(preset, steps: int) -> dict[str, float]:
    """MiB of GPU:0 memory each strategy's session peaks at (built and trained `steps` steps)."""
    peaks = {}
    for strategy in STRATEGIES:
        tf.config.experimental.reset_memory_stats("GPU:0")
        session = session_for(preset, strategy, "auto")
        session.run(steps)
        peaks[strategy] = tf.config.experimental.get_memory_info("GPU:0")["peak"] / 2**20
        session.close()
    return peaks


def mirrored(preset, steps: int, rounds: int) -> dict[str, float]:
    """Samples/s of summed and grouped on one GPU and mirrored on all (the same global batch)."""
    everywhere = make_distribution("all")
    contenders = {}
    for strategy in ("summed", "grouped"):
        contenders[f"{strategy} 1 GPU"] = runner(session_for(preset, strategy, "auto"))
        contenders[f"{strategy} mirrored"] = runner(session_for(preset, strategy, "auto", distribution=everywhere))
    rates = interleaved_rates(contenders, steps, rounds, warmup=50)
    return {name: rate * preset.training.batch_size for name, rate in rates.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="heavy", help="heavy (default), quickstart, tiny or a shipped preset")
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--allow-cpu", action="store_true", help="run on the CPU too (a smoke test of the script)")
    args = parser.parse_args()
    gpus = configure()
    if not gpus and not args.allow_cpu:
        print("bench_gpu: no GPU visible (CPU only): nothing to measure. bench_fused.py measures the CPU.")
        return 0
    preset = model_preset(args.model)
    names = [tf.config.experimental.get_device_details(g).get("device_name", g.name) for g in gpus]
    print(f"{args.model} (K={len(preset.model.heads)}, batch {preset.training.batch_size}) on "
          f"{', '.join(names) or 'the CPU'}; TF {tf.__version__}", flush=True)
    rates = speed(preset, args.steps, args.rounds, jit_too=True)
    print("\nsteps/s")
    for name, rate in rates.items():
        print(f"  {name:<20} {rate:>8.0f}")
    fit16 = rates["fit spe=16"]
    print(f"  summed fused / fit spe=16: {rates['summed fused'] / fit16:.2f}   "
          f"summed fused+XLA / fit spe=16: {rates['summed fused+XLA'] / fit16:.2f}   "
          f"summed fused / 1 per call: {rates['summed fused'] / rates['summed 1/call']:.2f}")
    if gpus:
        print("\npeak GPU:0 memory per strategy (MiB)")
        for strategy, mib in peak_memory(preset, 50).items():
            print(f"  {strategy:<10} {mib:>8.0f}")
    if len(gpus) > 1:
        print(f"\nsamples/s, one GPU vs mirrored on {len(gpus)}")
        for name, rate in mirrored(preset, args.steps // 2, args.rounds).items():
            print(f"  {name:<18} {rate:>10.0f}")
    else:
        print("\none GPU (or none): no mirrored comparison")
    return 0


if __name__ == "__main__":
    sys.exit(main())
