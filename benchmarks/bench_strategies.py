"""Steady-state steps/s: Keras `fit` with `loss_weights` vs Session `summed` vs `grouped`.

Same model, same initial weights, same batch stream; rounds are interleaved so machine noise hits
every contender alike. Prints steps/s and the ratios the core issue sets targets for:
  summed / fit >= 1.0         grouped time / summed time <= 1.1 * (1 + 2K) / 3

    python benchmarks/bench_strategies.py [--steps 400] [--rounds 3] [--presets quickstart,seed-two-heads]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402

from tui_mtl import Session, load_preset  # noqa: E402


def fit_contender(preset, session):
    model = keras.models.clone_model(session.model)
    model.set_weights(session.model.get_weights())
    heads = preset.model.heads
    model.compile(optimizer=keras.optimizers.Adam(preset.training.trunk_learning_rate),
                  loss={h.name: h.loss for h in heads}, loss_weights={h.name: h.weight for h in heads},
                  jit_compile=False)
    data = session.data.train

    def run(steps):
        model.fit(data, steps_per_epoch=steps, epochs=1, verbose=0)

    return run


def session_contender(preset, strategy):
    # validation and reports as rare as possible: we time training steps only
    preset = preset.with_changes(strategy={"name": strategy}, training={"validate_every": 10**9})
    session = Session(preset, report_interval=3600.0)
    return session, (lambda steps: session.run(steps))


def measure(preset_name: str, steps: int, rounds: int) -> dict:
    preset = load_preset(preset_name)
    summed_session, summed = session_contender(preset, "summed")
    _, grouped = session_contender(preset, "grouped")
    contenders = {"keras fit": fit_contender(preset, summed_session), "summed": summed, "grouped": grouped}
    for run in contenders.values():  # trace and warm up
        run(50)
    times = {name: [] for name in contenders}
    for _ in range(rounds):
        for name, run in contenders.items():
            start = time.perf_counter()
            run(steps)
            times[name].append(time.perf_counter() - start)
    return {name: steps / statistics.median(t) for name, t in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--presets", default="quickstart,seed-two-heads")
    args = parser.parse_args()
    print(f"{'preset':<18} {'K':>2} {'fit/s':>8} {'summed/s':>9} {'grouped/s':>10} "
          f"{'summed/fit':>11} {'grouped t/summed t':>19} {'target':>7}")
    for name in args.presets.split(","):
        k = len(load_preset(name).model.heads)
        rate = measure(name, args.steps, args.rounds)
        ratio_fit = rate["summed"] / rate["keras fit"]
        ratio_grouped = rate["summed"] / rate["grouped"]
        target = 1.1 * (1 + 2 * k) / 3
        print(f"{name:<18} {k:>2} {rate['keras fit']:>8.0f} {rate['summed']:>9.0f} {rate['grouped']:>10.0f} "
              f"{ratio_fit:>11.2f} {ratio_grouped:>19.2f} {target:>7.2f}", flush=True)


if __name__ == "__main__":
    main()
