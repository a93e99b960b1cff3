"""TFStepper: the model, the data, one traced step per strategy variant, validation and every
variable of the training state. Called from the session's training thread only.

Rates live in the optimizers' variables and weights/scales in tf.Variables, so nothing retraces
when they change; each strategy is built once and kept (its optimizer state survives switching).
Losses are summed on the device and read when a report is due; one boolean per step is read to
stop at the first non-finite step.
"""

from __future__ import annotations

import contextlib
import re
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import tensorflow as tf

from tui_mtl.engine.stepper import DeviceMemoryError, StepFailure, StepOutcome, StepperState
from tui_mtl.engine.tf.loss_scaling import DynamicLossScale, LossScaling
from tui_mtl.engine.tf.memory import out_of_memory_message, state_bytes
from tui_mtl.devices import PRECISIONS
from tui_mtl.errors import CommandError, PresetError
from tui_mtl.presets import Preset
from tui_mtl.strategies.base import StepContext
from tui_mtl.strategies.catalog import ComponentParams, canonical_name
from tui_mtl.strategies.step import build_fused, build_step, replica_hooks
from tui_mtl.strategies.strategy import Strategy




@contextlib.contextmanager
def device_errors():
    """TensorFlow's out-of-memory as one clear message; any other op error as a failed step."""
    try:
        yield
    except tf.errors.ResourceExhaustedError as err:
        raise DeviceMemoryError(out_of_memory_message(err)) from None
    except tf.errors.OpError as err:
        raise StepFailure(f"{type(err).__name__}: {op_error_cause(err.message)}") from None


# Strategies whose traced steps a stepper keeps (the most recently used). Each trace holds ~15-30 MB of
# graphs; switching back to a dropped one traces it again (a second or two on a small model).
KEPT_TRACES = 3

_BOILERPLATE = re.compile(r"(Graph execution error:|Detected at node|File |\[\[|\d+ root error\(s\) found"
                          r"|\d+ successful operations|\d+ derived errors)")


def op_error_cause(message: str | None) -> str:
    """The line of a TensorFlow op error that says what went wrong: a graph's error opens with
    "Graph execution error:" and the Python stack where the node was made, and the cause comes after."""
    lines = [re.sub(r"^\(\d+\) [A-Z_]+:\s*", "", line.strip())  # "(0) INVALID_ARGUMENT:  ..."
             for line in (message or "").splitlines() if line.strip()]
    cause = next((line for line in lines if not _BOILERPLATE.match(line)), lines[0] if lines else "no message")
    return cause[:300]


def with_input_shape_of(preset: Preset, model: Any) -> Preset:
    """A preset whose model came from `from`, with the model's input shape (the data is shaped to it);
    PresetError when the preset or its data source says otherwise."""
    from tui_mtl.architectures.imported import input_shape_of

    shape = input_shape_of(model)
    given = preset.model.input_shape
    if given is not None and tuple(given) != shape:
        raise PresetError(f"model.input_shape {list(given)} does not match the input of the model given with "
                          f"from = ... {list(shape)}; drop input_shape (it is read from the model)")
    wanted = preset.data.source_spec.input_shape()
    if wanted is not None and wanted != shape:
        raise PresetError(f"model.from: the model takes inputs of shape {list(shape)}, and the {preset.data.source} "
                          f"source's images are {list(wanted)}; build the model for {list(wanted)}")
    return preset if given is not None else preset.with_changes(model={"input_shape": list(shape)})


def named_diagnostics(heads: list[str], tensors: dict) -> dict | None:
    """The step's diagnostic tensors keyed by head (and head pair); None when any is not finite (a
    head's own gradient overflowed under float16 on an applied step)."""
    norms, shares = tensors["grad_norm"].numpy(), tensors["update_share"].numpy()
    cosine = tensors["cosine"].numpy()
    if not all(np.all(np.isfinite(v)) for v in (norms, shares, cosine)):
        return None
    return {
        "grad_norm": {h: float(v) for h, v in zip(heads, norms)},
        "update_share": {h: float(v) for h, v in zip(heads, shares)},
        "cosine": {f"{a}~{b}": float(cosine[i, j]) for i, a in enumerate(heads) for j, b in enumerate(heads) if i < j},
        "conflict_share": float(tensors["conflict_share"].numpy()),
    }


def not_applied(losses: tf.Tensor, faulty: tf.Tensor, traced: bool) -> StepOutcome:
    """A step the non-finite guard stopped: its losses and which heads' values were not finite."""
    return StepOutcome(False, losses=tuple(float(v) for v in losses.numpy()),
                       faulty=tuple(bool(v) for v in faulty.numpy()), traced=traced)


class TFStepper:
    def __init__(self, preset: Preset, *, base_dir: Path | None = None, seed: int | None = None, data: Any = None,
                 distribution: Any = None, mixed_precision: str = "off", loss_scaling: LossScaling | None = None,
                 model: Any = None, given_data: Any = None):
        """`model`, `given_data`: the keras.Model and data a Session.from_model was handed (its preset
        names IN_MEMORY for them)."""
        if mixed_precision not in PRECISIONS:
            raise CommandError(f"mixed precision {mixed_precision!r}: use one of {', '.join(PRECISIONS)}")
        self.preset = preset
        self.head_names = list(preset.model.head_names)
        self.mixed_precision = mixed_precision
        self._dist = distribution
        self._base_dir = base_dir
        self._given_model = model
        self._given_data = given_data
        if loss_scaling is None and mixed_precision == "fp16":
            loss_scaling = LossScaling()
        self.loss_scaling = loss_scaling
        self.seed = preset.data.seed if seed is None else seed
        self.trace_counts: dict[str, int] = {}  # strategy -> traces so far
        self.batches_drawn = 0
        self._strategies: dict[str, Strategy] = {}  # canonical name -> Strategy, in build order
        self._steps: dict[str, Any] = {}
        self._fused_steps: dict[str, Any] = {}  # canonical name -> its fused tf.function, built when first fused
        self._traced: set[tuple] = set()
        self._recent: dict[str, None] = {}  # strategies used, the least recent first: their traces are kept
        self._planned: int | None = None  # the variant the next step runs (alternating's head)
        self._iterator = None  # created on the first own step: a comparison's branch never needs one
        self._eval_fn: Any = None
        self._params = ComponentParams(preset.strategy.component_params())
        self._rates = {"trunk": preset.training.trunk_learning_rate,
                       **{h.name: h.learning_rate for h in preset.model.heads}}
        with device_errors(), self._scope():
            self._build(data)

    @property
    def replicas(self) -> int:
        return 1 if self._dist is None else self._dist.num_replicas_in_sync

    def _scope(self):
        return self._dist.scope() if self._dist is not None else contextlib.nullcontext()

    def _placed(self):
        """Where a call runs: on a placed branch's device (a OneDeviceStrategy puts only what runs
        inside `strategy.run` there; the update, the guard and validation follow this scope)."""
        if isinstance(self._dist, tf.distribute.OneDeviceStrategy):
            return tf.device(self._dist.extended.worker_devices[0])
        return contextlib.nullcontext()

    def _build(self, data: Any) -> None:
        from tui_mtl.data import build_data
        from tui_mtl.model import build_model

        preset = self.preset
        if self._dist is not None and preset.training.batch_size % self.replicas:
            raise PresetError(f"training.batch_size: {preset.training.batch_size} does not split evenly over "
                              f"{self.replicas} devices; use a multiple of {self.replicas}")
        self.net = build_model(preset.model, seed=self.seed, mixed_precision=self.mixed_precision,
                               base_dir=self._base_dir, given=self._given_model)
        self.model = self.net.model
        if preset.model.imported:
            self.preset = preset = with_input_shape_of(preset, self.model)
        self.data: Any = data if data is not None else build_data(preset, self._base_dir, self._given_data)
        heads = preset.model.heads
        self._weights = tf.Variable([h.weight for h in heads], dtype=tf.float32, trainable=False, name="loss_weights")
        self._scales = tf.Variable([h.loss_scale for h in heads], dtype=tf.float32, trainable=False,
                                   name="loss_scales")
        self._loss_scale = None if self.loss_scaling is None else DynamicLossScale(self.loss_scaling)
        self._loss_fns = {h.name: h.make_loss() for h in heads}
        self._metrics = {h.name: h.make_metric() for h in heads}
        self.ctx = StepContext(self.net, self._loss_fns, self._weights, self._scales,
                               preset.training.optimizer.make, seed=self.seed, loss_scale=self._loss_scale,
                               **self._distribution_hooks())
        # On-device accumulators: nothing leaves the device until a report is due.
        self._loss_sum = tf.Variable(tf.zeros([len(heads)]), trainable=False, name="loss_sum")
        self._loss_count = tf.Variable(0.0, trainable=False, name="loss_count")
        self.initial_weights = [np.array(w) for w in self.model.get_weights()]

    def _distribution_hooks(self) -> dict:
        """How components see the replicas: losses pre-divided by their count, sums across them."""
        return replica_hooks(self._dist, lambda x, y: self.ctx.forward_losses(x, y))

    # --- strategies ----------------------------------------------------------------------------

    def _ensure(self, name: str) -> Strategy:
        name = canonical_name(name)
        if name not in self._strategies:
            with device_errors(), self._scope():  # optimizers made later must live on every replica too
                strategy = Strategy(self.ctx, name, self._rates, self._params)
            self._strategies[name] = strategy
            self.trace_counts[name] = 0
            self._steps[name] = self._new_step(name)
        return self._strategies[name]

    def _new_step(self, name: str) -> Any:
        """The step function of strategy `name`, not yet traced."""
        def on_trace(name=name):
            self.trace_counts[name] += 1

        return build_step(self.ctx, self._strategies[name], self._dist, self._accumulate, on_trace,
                          jit_compile=self.preset.training.jit_compile)

    def use_strategy(self, name: str) -> None:
        self._ensure(name)
        self._current = canonical_name(name)
        self._planned = None
        self._recent.pop(self._current, None)
        self._recent[self._current] = None
        while len(self._recent) > KEPT_TRACES:
            self._drop_traces(next(iter(self._recent)))

    def _drop_traces(self, name: str) -> None:
        """Forget strategy `name`'s traced graphs (~15-30 MB each); its optimizers and state stay, and
        its next step traces again. Cycling through every strategy kept them all before."""
        del self._recent[name]
        self._steps[name] = self._new_step(name)
        self._fused_steps.pop(name, None)
        self._traced = {key for key in self._traced if key[0] != name}

    @property
    def strategies(self) -> list[str]:
        return list(self._strategies)

    def strategy(self, name: str) -> Strategy:
        """The built strategy `name` (its components and optimizers), building it if needed."""
        return self._ensure(name)

    def set_learning_rates(self, rates: Mapping[str, float]) -> None:
        self._rates = dict(rates)
        for strategy in self._strategies.values():
            strategy.set_learning_rates(self._rates)

    def set_weights(self, weights: Mapping[str, float]) -> None:
        self._weights.assign([float(weights[h]) for h in self.head_names])

    def set_loss_scales(self, scales: Mapping[str, float]) -> None:
        self._scales.assign([float(scales[h]) for h in self.head_names])

    # --- steps ---------------------------------------------------------------------------------

    def _accumulate(self, losses, applied) -> None:
        # a skipped (non-finite) step adds nothing to the reported means
        self._loss_sum.assign_add(tf.where(applied, losses, tf.zeros_like(losses)))
        self._loss_count.assign_add(tf.cast(applied, tf.float32))

    def _variant(self) -> int:
        if self._planned is None:
            self._planned = self._strategies[self._current].next_variant()
        return self._planned

    def will_trace(self, diagnose: bool) -> bool:
        return (self._current, self._variant(), diagnose) not in self._traced

    def fusable(self) -> bool:
        """Whether the current strategy can run several steps per call: one variant (alternating
        picks its head on the host each step)."""
        return not self._strategies[self._current].layout.one_head

    def will_trace_fused(self) -> bool:
        return (self._current, "fused") not in self._traced

    def steps(self, count: int) -> tuple[int, StepOutcome]:
        """Up to `count` plain steps in one call, on this stepper's own stream; stops after the first
        step not applied. Returns how many ran (that one included) and the last one's outcome."""
        name = self._current
        fused = self._fused_steps.get(name)
        if fused is None:
            strategy = self._strategies[name]

            def on_trace(name=name):
                self.trace_counts[name] += 1

            fused = self._fused_steps[name] = build_fused(self.ctx, strategy, self._accumulate, on_trace,
                                                          jit_compile=self.preset.training.jit_compile,
                                                          distribution=self._dist)
        key = (name, "fused")
        traced = key not in self._traced
        self._planned = None
        with device_errors(), self._placed():
            done, applied, losses, rescaled, faulty = fused(self._stream(), tf.constant(count, tf.int32))
            done, applied = int(done), bool(applied)  # the one host read of the call
        self.batches_drawn += done
        self._traced.add(key)
        if applied:
            return done, StepOutcome(True, traced=traced)
        if bool(rescaled):
            return done, StepOutcome(False, overflow=True, traced=traced)
        return done, not_applied(losses, faulty, traced)

    def _stream(self):
        if self._iterator is None:  # a fresh pipeline: the same order as a new session from its start
            stream = self.data.fresh_train().skip(self.batches_drawn)
            if self._dist is not None:  # each replica gets its slice of the global batch
                stream = self._dist.experimental_distribute_dataset(stream)
            self._iterator = iter(stream)
        return self._iterator

    def next_batch(self) -> Any:
        with device_errors():
            batch = next(self._stream())
        self.batches_drawn += 1
        return batch

    def skip_to_batch(self, count: int) -> None:
        self.batches_drawn = int(count)
        self._iterator = None

    def step(self, batch: Any = None, diagnose: bool = False) -> StepOutcome:
        variant = self._variant()
        self._planned = None
        key = (self._current, variant, diagnose)
        traced = key not in self._traced
        source = batch if batch is not None else self._stream()
        try:
            with device_errors(), self._placed():
                result = self._steps[self._current](source, variant, diagnose)
                applied = bool(result.applied)  # one host read per step: a NaN stops at the step it appears
        finally:
            if batch is None:
                self.batches_drawn += 1
        self._traced.add(key)
        if not applied:
            if bool(result.rescaled):  # a float16 overflow: the scale was halved, the next step goes on
                return StepOutcome(False, overflow=True, traced=traced)
            return not_applied(result.losses, result.faulty, traced)
        diagnostics = named_diagnostics(self.head_names, result.diagnostics) if diagnose else None
        return StepOutcome(True, diagnostics=diagnostics, traced=traced)

    def take_train_means(self) -> dict[str, float] | None:
        count = float(self._loss_count.numpy())
        if count <= 0:
            return None
        means = self._loss_sum.numpy() / count
        self._loss_sum.assign(tf.zeros_like(self._loss_sum))
        self._loss_count.assign(0.0)
        return {h: float(v) for h, v in zip(self.head_names, means)}

    def effective_weights(self) -> dict[str, float]:
        values = self._strategies[self._current].weighting.current().numpy()
        return {h: float(v) for h, v in zip(self.head_names, values)}

    def loss_scale(self) -> float | None:
        return None if self._loss_scale is None else float(self._loss_scale.scale.numpy())

    # --- validation ----------------------------------------------------------------------------

    def _make_eval_fn(self):
        def evaluate(x, y):
            preds = self.model(x, training=False)
            for name in self.head_names:
                self._metrics[name].update_state(y[name], preds[name])
            return tf.stack([self._loss_fns[name](y[name], preds[name]) for name in self.head_names])

        return tf.function(evaluate, autograph=False)

    def validate(self) -> tuple[dict[str, float], dict[str, float]]:
        if self._eval_fn is None:
            self._eval_fn = self._make_eval_fn()
        for metric in self._metrics.values():
            metric.reset_state()
        total: Any = None
        batches = 0
        with device_errors(), self._placed():
            for x, y in self.data.validation:
                losses = self._eval_fn(x, y)
                total = losses if total is None else total + losses
                batches += 1
            means = (total / batches).numpy()
        loss = {h: float(v) for h, v in zip(self.head_names, means)}
        metric = {h: float(self._metrics[h].result()) for h in self.head_names}
        return loss, metric

    # --- state ---------------------------------------------------------------------------------

    def _named_state(self) -> dict[str, Any]:
        """Model weights (trainable and not), then every strategy's state by strategy name: the
        order of format-1 checkpoints."""
        state: dict[str, Any] = {f"model/{i}": v for i, v in enumerate(self.model.weights)}
        for name in sorted(self._strategies):
            state.update({f"strategy/{name}/{key}": v for key, v in self._strategies[name].state().items()})
        return state

    def state_names(self, strategies: list[str]) -> list[str]:
        names = [f"model/{i}" for i in range(len(self.model.weights))]
        for name in sorted(canonical_name(s) for s in strategies):
            names += [f"strategy/{name}/{key}" for key in self._ensure(name).state()]
        return names

    def capture(self) -> StepperState:
        arrays = {name: np.array(v.numpy()) for name, v in self._named_state().items()}
        python = {name: s.python_state() for name, s in self._strategies.items()}
        scale = None
        if self._loss_scale is not None:
            scale = (float(self._loss_scale.scale.numpy()), int(self._loss_scale.clean_steps.numpy()))
        return StepperState(arrays, python, tuple(self._strategies), scale, self.batches_drawn)

    def restore(self, state: StepperState, *, stream: bool = True) -> None:
        for name in state.strategies:
            self._ensure(name)
        named = self._named_state()
        unknown = sorted(set(state.arrays) - set(named))
        if unknown:
            raise ValueError(f"the saved state has variables this model does not: {', '.join(unknown[:3])}")
        for key, value in state.arrays.items():
            variable = named[key]
            if tuple(variable.shape) != tuple(np.shape(value)):
                raise ValueError(f"{key}: saved shape {tuple(np.shape(value))} does not fit {tuple(variable.shape)}")
            variable.assign(value)
        for name, python in state.python.items():
            self._strategies[canonical_name(name)].load_python_state(python)
        if self._loss_scale is not None and state.loss_scale is not None:
            self._loss_scale.scale.assign(state.loss_scale[0])
            self._loss_scale.clean_steps.assign(state.loss_scale[1])
        self._planned = None
        if stream:
            self.skip_to_batch(state.batches_drawn)

    def reset(self) -> None:
        import keras

        keras.utils.set_random_seed(self.seed)
        self.model.set_weights(self.initial_weights)
        for strategy in self._strategies.values():
            strategy.reset()
        if self._loss_scale is not None:
            self._loss_scale.reset()
        self._loss_sum.assign(tf.zeros_like(self._loss_sum))
        self._loss_count.assign(0.0)
        self._planned = None
        self.skip_to_batch(0)

    def spawn(self, device: str | None = None) -> "TFStepper":
        """A stepper like this one, on `device` when given (everything it builds and runs lives there),
        else on this one's devices."""
        import keras

        from tui_mtl.devices import on_one_device

        # a model handed over in Python is cloned (new variables; a fork then copies the weights)
        placed = on_one_device(device) if device is not None else None
        with placed.scope() if placed is not None else contextlib.nullcontext():  # the clone's weights too
            given = None if self._given_model is None else keras.models.clone_model(self._given_model)
        return TFStepper(self.preset, base_dir=self._base_dir, seed=self.seed, data=self.data,
                         distribution=self._dist if placed is None else placed,
                         mixed_precision=self.mixed_precision, loss_scaling=self.loss_scaling, model=given)

    def state_bytes(self) -> int:
        return state_bytes(self._named_state().values())

    def fork_bytes(self) -> int:
        """One branch at worst: a copy of this state plus Adam slots for K optimizers over the model."""
        return self.state_bytes() + 2 * len(self.head_names) * state_bytes(self.model.weights)

    def close(self) -> None:
        self._iterator = None
