"""A Stepper without TensorFlow, for pure rendering tests: the real Session (controller) runs on it.

Losses fall smoothly with each step, faster with a higher rate, weight or scale; a rate above 1
makes the step non-finite (a divergence to recover from). Steps sleep instead of computing, so the
process looks idle to Pilot. Training behaviour is tested on the real TFStepper, not on this.
"""

from __future__ import annotations

import math
import time

import numpy as np

from tui_mtl.engine.stepper import StepOutcome, StepperState


class FakeStepper:
    STEP_SECONDS = 0.004  # virtual time per step: 250 steps/s on every machine

    def __init__(self, preset, *, step_delay: float = 0.002, clock: list | None = None):
        self.preset = preset
        self.head_names = list(preset.model.head_names)
        self.mixed_precision, self.replicas, self.model = "off", 1, None
        self.trace_counts: dict[str, int] = {}
        self.batches_drawn = 0
        self.step_delay = step_delay
        self._rates = {"trunk": preset.training.trunk_learning_rate,
                       **{h.name: h.learning_rate for h in preset.model.heads}}
        self._weights = {h.name: h.weight for h in preset.model.heads}
        self._scales = {h.name: h.loss_scale for h in preset.model.heads}
        self._progress = np.zeros(len(self.head_names))
        self._sum, self._count = np.zeros(len(self.head_names)), 0
        self._traced: set[str] = set()
        self._strategy = ""
        self._now = clock if clock is not None else [0.0]  # shared by a fork's branches

    def clock(self) -> float:
        """Virtual seconds: reports, rates and ETAs come out the same on every run (snapshots)."""
        return self._now[0]

    def use_strategy(self, name: str) -> None:
        self.trace_counts.setdefault(name, 0)
        self._strategy = name

    def set_learning_rates(self, rates) -> None:
        self._rates = dict(rates)

    def set_weights(self, weights) -> None:
        self._weights = dict(weights)

    def set_loss_scales(self, scales) -> None:
        self._scales = dict(scales)

    def will_trace(self, diagnose: bool) -> bool:
        return self._strategy not in self._traced

    def _losses(self) -> np.ndarray:
        return 1.0 / (1.0 + self._progress) + 0.01 * (1 + np.arange(len(self.head_names)))

    def fusable(self) -> bool:
        return False  # one step per call: the timings the snapshots draw stay simple

    def will_trace_fused(self) -> bool:
        return False

    def steps(self, count: int):
        raise NotImplementedError("FakeStepper runs one step per call")

    def step(self, batch=None, diagnose: bool = False) -> StepOutcome:
        time.sleep(self.step_delay)
        self._now[0] += self.STEP_SECONDS
        traced = self.will_trace(diagnose)
        if traced:
            self._traced.add(self._strategy)
            self.trace_counts[self._strategy] += 1
        if batch is None:
            self.batches_drawn += 1
        rates = np.array([self._rates[h] for h in self.head_names])
        if np.any(rates > 1.0) or self._rates["trunk"] > 1.0:
            return StepOutcome(False, losses=tuple(math.inf if r > 1 else 0.5 for r in rates), traced=traced)
        push = np.array([self._weights[h] * self._scales[h] for h in self.head_names])
        self._progress += 20 * rates * (0.2 + push)
        self._sum += self._losses()
        self._count += 1
        diagnostics = None
        if diagnose:
            norms = {h: float(v) for h, v in zip(self.head_names, self._losses())}
            diagnostics = {"grad_norm": norms, "update_share": {h: 1 / len(norms) for h in norms},
                           "cosine": {f"{a}~{b}": 0.5 for i, a in enumerate(norms) for b in list(norms)[i + 1:]},
                           "conflict_share": 0.0}
        return StepOutcome(True, diagnostics=diagnostics, traced=traced)

    def next_batch(self):
        self.batches_drawn += 1
        return self.batches_drawn

    def validate(self):
        losses = self._losses() * 1.1
        return ({h: float(v) for h, v in zip(self.head_names, losses)},
                {h: float(1 - v) for h, v in zip(self.head_names, losses)})

    def take_train_means(self):
        if not self._count:
            return None
        means, self._sum, self._count = self._sum / self._count, np.zeros_like(self._sum), 0
        return {h: float(v) for h, v in zip(self.head_names, means)}

    def effective_weights(self):
        return dict(self._weights)

    def loss_scale(self):
        return None

    def capture(self) -> StepperState:
        return StepperState({"progress": self._progress.copy()}, {}, tuple(self.trace_counts), None,
                            self.batches_drawn)

    def restore(self, state: StepperState, *, stream: bool = True) -> None:
        self._progress = np.array(state.arrays["progress"])
        if stream:
            self.batches_drawn = state.batches_drawn

    def reset(self) -> None:
        self._progress[:] = 0
        self.batches_drawn = 0

    def state_names(self, strategies):
        return ["progress"]

    def skip_to_batch(self, count: int) -> None:
        self.batches_drawn = count

    def spawn(self, device: str | None = None) -> "FakeStepper":
        return FakeStepper(self.preset, step_delay=self.step_delay, clock=self._now)

    def state_bytes(self) -> int:
        return self._progress.nbytes

    def close(self) -> None:
        pass
