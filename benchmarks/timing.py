"""What the speed benchmarks share: Keras `fit` on a session's own model and batches, and rounds
that alternate the contenders so machine noise hits every one alike."""

from __future__ import annotations

import statistics
import time
from typing import Callable

import keras


def train_data(session):
    stepper = getattr(session, "stepper", session)  # older versions kept the data on the session
    return stepper.data.train


def fit_contender(preset, session, steps_per_execution: int = 1) -> Callable[[int], object]:
    """Keras `fit` with `loss_weights` on a copy of the session's model (same initial weights) and
    the session's batch stream: what `summed` computes."""
    model = keras.models.clone_model(session.model)
    model.set_weights(session.model.get_weights())
    heads = preset.model.heads
    model.compile(optimizer=keras.optimizers.Adam(preset.training.trunk_learning_rate),
                  loss={h.name: h.loss for h in heads}, loss_weights={h.name: h.weight for h in heads},
                  jit_compile=False, steps_per_execution=steps_per_execution)
    data = train_data(session)
    return lambda steps: model.fit(data, steps_per_epoch=steps, epochs=1, verbose=0, shuffle=False)


def interleaved_rates(contenders: dict[str, Callable[[int], object]], steps: int, rounds: int,
                      warmup: int) -> dict[str, float]:
    """Steps/s of each contender: `warmup` steps each (traces), then `rounds` rounds of `steps` steps
    each, contenders alternating within a round; the median round counts."""
    for run in contenders.values():
        run(warmup)
    times: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(rounds):
        for name, run in contenders.items():
            start = time.perf_counter()
            run(steps)
            times[name].append(time.perf_counter() - start)
    return {name: steps / statistics.median(t) for name, t in times.items()}
