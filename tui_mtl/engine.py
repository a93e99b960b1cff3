"""The training Session: model, data, strategies, commands in, reports out. Never imports Textual.

Threading: `run()` trains in the calling thread (the UI calls it from a worker). Every command
(`set_strategy`, `set_lr`, ...) may be called from any thread; it is validated at once, queued, and
applied at the next step boundary. Reports go to subscribers from the training thread.
"""

from __future__ import annotations

import contextlib
import copy
import math
import queue
import threading
import time
from pathlib import Path
from typing import Callable

import numpy as np

from tui_mtl.devices import PRECISIONS
from tui_mtl.errors import CommandError, PresetError, TuiMtlError
from tui_mtl.history import History
from tui_mtl.presets import Preset
from tui_mtl.reports import ERROR, PAUSED, Event, Report, frozen
from tui_mtl.training_loop import run_loop
from tui_mtl.strategies.registry import canonical_name, load_update_rule, load_weighting, parse_strategy_name

TRUNK = "trunk"

LOSS_CLASSES = {
    "mse": "MeanSquaredError",
    "mae": "MeanAbsoluteError",
    "huber": "Huber",
    "log_cosh": "LogCosh",
    "sparse_categorical_crossentropy": "SparseCategoricalCrossentropy",
    "binary_crossentropy": "BinaryCrossentropy",
}
METRIC_CLASSES = {
    ("regression", "mae"): "MeanAbsoluteError",
    ("regression", "mse"): "MeanSquaredError",
    ("regression", "rmse"): "RootMeanSquaredError",
    ("classification", "accuracy"): "SparseCategoricalAccuracy",
    ("binary", "accuracy"): "BinaryAccuracy",
}


def make_optimizer_factory(spec) -> Callable:
    import keras

    def make(learning_rate: float):
        if spec.name == "adam":
            return keras.optimizers.Adam(learning_rate, beta_1=spec.beta_1, beta_2=spec.beta_2,
                                         epsilon=spec.epsilon)
        if spec.name == "sgd":
            return keras.optimizers.SGD(learning_rate, momentum=spec.momentum, nesterov=spec.nesterov)
        return keras.optimizers.RMSprop(learning_rate, rho=spec.rho, momentum=spec.momentum,
                                        epsilon=spec.epsilon)

    return make


def check_rate(value, what: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise CommandError(f"{what}: {value!r} is not a number") from None
    if not math.isfinite(number) or number <= 0:
        raise CommandError(f"{what}: must be a finite number > 0, got {value!r}")
    return number


def check_weight(value, what: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise CommandError(f"{what}: {value!r} is not a number") from None
    if not math.isfinite(number) or number < 0:
        raise CommandError(f"{what}: must be a finite number >= 0, got {value!r}")
    return number


class DeviceMemoryError(TuiMtlError):
    """The device ran out of memory; the message says what to make smaller."""


def tf_errors():
    import tensorflow as tf

    return tf.errors


def out_of_memory_message(err) -> str:
    first = str(err).strip().splitlines()[0][:200] if str(err).strip() else type(err).__name__
    return ("the device ran out of memory; try a smaller training.batch_size, a smaller model, fewer "
            f"fork branches, or --mixed-precision bf16 ({first})")


class Session:
    """One model trained under switchable strategies.

    >>> s = Session(load_preset("quickstart")); s.run(100); s.set_strategy("grouped"); s.run(100)
    """

    def __init__(self, preset: Preset, *, base_dir: Path | None = None, report_interval: float = 0.25,
                 report_every: int | None = None, seed: int | None = None, data=None, distribution=None,
                 mixed_precision: str = "off", loss_scaling=None):
        """`distribution`: a tf.distribute strategy (e.g. from devices.make_distribution) or None;
        `mixed_precision`: "off", "bf16" or "fp16"; `loss_scaling`: a loss_scaling.LossScaling
        (default: Keras' dynamic scaling under fp16, none otherwise)."""
        import tensorflow as tf

        from tui_mtl.loss_scaling import LossScaling

        self._tf = tf
        self._dist = distribution
        if mixed_precision not in PRECISIONS:
            raise CommandError(f"mixed precision {mixed_precision!r}: use one of {', '.join(PRECISIONS)}")
        self.mixed_precision = mixed_precision
        if loss_scaling is None and mixed_precision == "fp16":
            loss_scaling = LossScaling()
        self.loss_scaling = loss_scaling
        with self._scope():
            self._build(preset, base_dir, report_interval, report_every, seed, data)

    def _scope(self):
        return self._dist.scope() if self._dist is not None else contextlib.nullcontext()

    def _build(self, preset, base_dir, report_interval, report_every, seed, data) -> None:
        import keras

        from tui_mtl.data import build_data
        from tui_mtl.loss_scaling import DynamicLossScale
        from tui_mtl.model import build_model

        tf = self._tf
        self.preset = preset
        self.report_interval = report_interval
        self.report_every = report_every
        self.head_names = preset.model.head_names
        seed = preset.data.seed if seed is None else seed
        self.net = build_model(preset.model, seed=seed, mixed_precision=self.mixed_precision)
        self.model = self.net.model
        self.data = data if data is not None else build_data(preset, base_dir)
        self._iterator = None  # created on the first step: a branch of a comparison never needs one
        self.batches_drawn = 0

        heads = preset.model.heads
        self.learning_rates = {TRUNK: preset.training.trunk_learning_rate, **{h.name: h.learning_rate for h in heads}}
        self.weights = {h.name: h.weight for h in heads}
        self.loss_scales = {h.name: h.loss_scale for h in heads}
        self._weights_var = tf.Variable([h.weight for h in heads], dtype=tf.float32, trainable=False,
                                        name="loss_weights")
        self._scales_var = tf.Variable([h.loss_scale for h in heads], dtype=tf.float32, trainable=False,
                                       name="loss_scales")
        self._loss_scale = None if self.loss_scaling is None else DynamicLossScale(self.loss_scaling)
        self.overflow_skips = 0  # steps skipped by dynamic loss scaling (float16 overflow)
        from tui_mtl.strategies.base import StepContext

        loss_fns = {h.name: getattr(keras.losses, LOSS_CLASSES[h.loss])() for h in heads}
        self._ctx = StepContext(self.net, loss_fns, self._weights_var, self._scales_var,
                                make_optimizer_factory(preset.training.optimizer), seed=seed,
                                loss_scale=self._loss_scale, **self._distribution_hooks())
        self._metrics = {h.name: getattr(keras.metrics, METRIC_CLASSES[(h.kind, h.metric)])() for h in heads}
        # On-device accumulators: nothing leaves the device until a report is due.
        self._loss_sum = tf.Variable(tf.zeros([len(heads)]), trainable=False, name="loss_sum")
        self._loss_count = tf.Variable(0.0, trainable=False, name="loss_count")

        self._rules: dict = {}  # canonical strategy name -> UpdateRule (kept: state survives switching)
        self._step_fns: dict = {}
        self.trace_counts: dict[str, int] = {}
        self._eval_fn = None
        self.strategy = canonical_name(preset.strategy.name)
        self._check_strategy_params()
        self._rule(self.strategy)
        self._initial_weights = [np.array(w) for w in self.model.get_weights()]

        self.step_count = 0
        self.history = History()
        self.events: list[Event] = []
        self._pending_events: list[Event] = []
        self._pending_val: tuple | None = None
        self._pending_diag: dict | None = None
        self._fault: str | None = None  # why training paused itself (a non-finite step)
        self.diagnostics_every = preset.training.diagnostics_every
        self._subscribers: list[Callable[[Report], None]] = []
        self._commands: queue.Queue = queue.Queue()
        self._lock = threading.RLock()
        self._running = False
        self._paused = False
        self._stop = threading.Event()
        self._closed = False
        self._train_seconds = 0.0
        self._target = 0
        self._last_report_time = time.perf_counter()
        self._last_report_step = 0
        self.last_report: Report | None = None

    # --- devices -------------------------------------------------------------------------

    @property
    def replicas(self) -> int:
        return 1 if self._dist is None else self._dist.num_replicas_in_sync

    def _distribution_hooks(self) -> dict:
        """How the rules see the replicas: losses pre-divided by their count, sums across them."""
        dist, tf = self._dist, self._tf
        if dist is None:
            return {}
        replicas = dist.num_replicas_in_sync
        if self.preset.training.batch_size % replicas:
            raise PresetError(f"training.batch_size: {self.preset.training.batch_size} does not split evenly over "
                              f"{replicas} devices; use a multiple of {replicas}")

        def cross_replica_sum(value):
            return tf.distribute.get_replica_context().all_reduce("SUM", value)

        def global_forward(x, y):
            per_replica = dist.run(lambda a, b: self._ctx.forward_losses(a, b), args=(x, y))
            return [dist.reduce("SUM", loss, axis=None) for loss in per_replica]

        return {"replica_scale": 1.0 / replicas, "cross_replica_sum": cross_replica_sum,
                "global_forward": global_forward}

    # --- strategies -----------------------------------------------------------------------

    def _rule(self, name: str):
        if name not in self._rules:
            with self._scope():  # optimizers made later must live on every replica too
                return self._new_rule(name)
        return self._rules[name]

    def _new_rule(self, name: str):
        if name not in self._rules:
            rule_name, weighting_name = parse_strategy_name(name)
            rule_cls, weighting_cls = load_update_rule(rule_name), load_weighting(weighting_name)
            params = dict(self.preset.strategy.params)
            head_lrs = {h: self.learning_rates[h] for h in self.head_names}
            weighting = weighting_cls(self._ctx, params)
            self._rules[name] = rule_cls(self._ctx, self.learning_rates[TRUNK], head_lrs, weighting, params)
            self._step_fns[name] = self._make_step_fn(name, self._rules[name])
        return self._rules[name]

    def _check_strategy_params(self) -> None:
        rule_name, weighting_name = parse_strategy_name(self.preset.strategy.name)
        known = {**load_update_rule(rule_name).DEFAULTS, **load_weighting(weighting_name).DEFAULTS}
        unknown = sorted(set(self.preset.strategy.params) - set(known))
        if unknown:
            raise PresetError(f"strategy.params: unknown parameter(s) {', '.join(unknown)} for "
                              f"{self.preset.strategy.name} (it takes: {', '.join(sorted(known)) or 'none'})")

    def _make_step_fn(self, name: str, rule):
        tf = self._tf
        self.trace_counts[name] = 0

        dist, loss_scale = self._dist, self._loss_scale

        def compute_summed(x, y, variant, diagnose):
            """The rule's plan, summed over replicas (per-replica losses are pre-divided by their count)."""
            if dist is None:
                return rule.compute(x, y, variant, diagnose)

            def replica(a, b):
                plan = rule.compute(a, b, variant, diagnose)
                return tf.distribute.get_replica_context().all_reduce("SUM", plan)

            per_replica = dist.run(replica, args=(x, y))
            return tf.nest.map_structure(lambda v: dist.experimental_local_results(v)[0], per_replica)

        def step(source, variant, diagnose):
            # source is this session's iterator (the batch is drawn inside the graph, as Keras `fit`
            # does) or an (x, y) batch shared by a comparison's branches; variant and diagnose are
            # Python values. One trace per combination, then reused.
            self.trace_counts[name] += 1  # runs only while tracing
            x, y = source if isinstance(source, tuple) else next(source)
            plan = compute_summed(x, y, variant, diagnose)
            if loss_scale is not None:
                plan = loss_scale.unscale(plan)
            diagnostics, applied = rule.apply(x, y, plan, variant, diagnose)
            losses = tf.stack(plan["losses"])
            rescaled = tf.constant(False) if loss_scale is None else loss_scale.update(applied, losses)
            # a skipped (non-finite) step adds nothing to the reported means
            self._loss_sum.assign_add(tf.where(applied, losses, tf.zeros_like(losses)))
            self._loss_count.assign_add(tf.cast(applied, tf.float32))
            return diagnostics, applied, losses, rescaled

        # autograph off: the rules use TensorFlow ops for data-dependent choices, never Python `if`
        return self._tf.function(step, autograph=False)

    # --- commands (any thread) -----------------------------------------------------------

    def _submit(self, action: Callable[[], None]) -> None:
        with self._lock:
            if self._running:
                self._commands.put(action)
                return
            action()

    def _note(self, kind: str, text: str) -> None:
        event = Event(self.step_count, kind, text)
        self.events.append(event)
        self._pending_events.append(event)

    def set_strategy(self, name: str) -> None:
        try:
            name = canonical_name(name)
        except ValueError as err:
            raise CommandError(str(err)) from None

        def apply():
            if name != self.strategy:
                rule = self._rule(name)
                rule.set_learning_rates(self.learning_rates[TRUNK], {h: self.learning_rates[h] for h in self.head_names})
                self.strategy = name
                self._note("strategy", name)

        self._submit(apply)

    def _check_head(self, head: str, allow_trunk: bool = False) -> None:
        known = self.head_names + ([TRUNK] if allow_trunk else [])
        if head not in known:
            raise CommandError(f"unknown head {head!r}; heads are {', '.join(known)}")

    def set_lr(self, head: str, rate) -> None:
        """Set a head's learning rate (or the trunk's, with head='trunk')."""
        self._check_head(head, allow_trunk=True)
        rate = check_rate(rate, f"learning rate of {head}")

        def apply():
            self.learning_rates[head] = rate
            head_lrs = {h: self.learning_rates[h] for h in self.head_names}
            for rule in self._rules.values():
                rule.set_learning_rates(self.learning_rates[TRUNK], head_lrs)
            self._note("lr", f"{head} lr={rate:.3g}")

        self._submit(apply)

    def set_weight(self, head: str, weight) -> None:
        self._check_head(head)
        weight = check_weight(weight, f"weight of {head}")

        def apply():
            self.weights[head] = weight
            self._weights_var.assign([self.weights[h] for h in self.head_names])
            self._note("weight", f"{head} w={weight:.3g}")

        self._submit(apply)

    def set_loss_scale(self, head: str, scale) -> None:
        self._check_head(head)
        scale = check_rate(scale, f"loss scale of {head}")

        def apply():
            self.loss_scales[head] = scale
            self._scales_var.assign([self.loss_scales[h] for h in self.head_names])
            self._note("scale", f"{head} scale={scale:.3g}")

        self._submit(apply)

    def pause(self) -> None:
        self._submit(lambda: self._set_paused(True))

    def resume(self) -> None:
        self._submit(lambda: self._set_paused(False))

    def _set_paused(self, paused: bool) -> None:
        if paused != self._paused:
            self._paused = paused
            self._note("pause" if paused else "resume", "paused" if paused else "resumed")

    @property
    def paused(self) -> bool:
        return self._paused

    def stop(self) -> None:
        """Ask a running `run()` to return at the next step boundary (callable from any thread)."""
        self._stop.set()

    def close(self) -> None:
        """Stop for good: a running `run()` returns at the next step, and any later `run()` at once
        (a stop that lands just before `run()` starts is not lost)."""
        self._closed = True
        self._stop.set()

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every command queued so far is applied; False if `timeout` passed first."""
        applied = threading.Event()
        self._submit(applied.set)
        return applied.wait(timeout)

    def reset(self) -> None:
        """Fresh start: the initial weights again, every optimizer's state zeroed, history cleared."""

        def apply():
            self.model.set_weights(self._initial_weights)
            for rule in self._rules.values():
                rule.reset_state()
            self._loss_sum.assign(self._tf.zeros_like(self._loss_sum))
            self._loss_count.assign(0.0)
            if self._loss_scale is not None:
                self._loss_scale.reset()
            self.step_count = 0
            self._train_seconds = 0.0
            self.last_report = None
            self.history = History(self.history.max_points)
            self._note("reset", "restarted from fresh weights")

        self._submit(apply)

    def subscribe(self, callback: Callable[[Report], None]) -> Callable[[], None]:
        self._subscribers.append(callback)
        return lambda: self._subscribers.remove(callback)

    # --- training ------------------------------------------------------------------------

    def _drain(self) -> None:
        while True:
            try:
                action = self._commands.get_nowait()
            except queue.Empty:
                return
            action()

    def _stream(self):
        if self._iterator is None:
            stream = self.data.train.skip(self.batches_drawn)
            if self._dist is not None:  # each replica gets its slice of the global batch
                stream = self._dist.experimental_distribute_dataset(stream)
            self._iterator = iter(stream)
        return self._iterator

    def next_batch(self):
        """The next batch of this session's stream, drawn in Python (a comparison shares it)."""
        batch = next(self._stream())
        self.batches_drawn += 1
        return batch

    def skip_to_batch(self, count: int) -> None:
        """Continue the batch stream at batch `count` (the stream is deterministic for its seed)."""
        self.batches_drawn = count
        self._iterator = None

    def save_checkpoint(self, path, on_done: Callable | None = None) -> None:
        """Save everything needed to continue exactly, atomically, at the next step boundary.

        A failed write (disk full, read-only folder) does not stop training: it becomes a "checkpoint"
        event saying why, the previous file stays intact, and `on_done(path or None, error or None)`
        is told either way.
        """
        from tui_mtl import checkpoint

        def apply():
            try:
                checkpoint.save(self, path)
            except OSError as err:
                self._note("checkpoint", f"not saved: {err.strerror or err} ({path})")
                if on_done:
                    on_done(None, err)
                return
            self._note("checkpoint", f"saved {Path(path).name}")
            if on_done:
                on_done(Path(path), None)

        self._submit(apply)

    def load_checkpoint(self, path) -> None:
        from tui_mtl import checkpoint

        checkpoint.load(self, path)

    def step(self) -> None:
        """One training step on the next batch of this session's stream (commands already applied)."""
        self._train(self._stream())
        self.batches_drawn += 1

    def train_on(self, x, y) -> None:
        """One training step on the given batch under the strategy in force; validates when due."""
        self._train((x, y))

    def _train(self, source) -> None:
        started = time.perf_counter()
        rule = self._rules[self.strategy]
        every = self.diagnostics_every
        diagnose = bool(every) and (self.step_count + 1) % every == 0
        diagnostics, applied, losses, rescaled = self._step_fns[self.strategy](source, rule.next_variant(), diagnose)
        self.step_count += 1
        if not bool(applied):  # one scalar per step: a NaN must stop training at the step it appears
            if bool(rescaled):  # a float16 overflow: the scale was halved, the next step goes on
                self.overflow_skips += 1
            else:
                self._on_nonfinite(losses.numpy())
        elif diagnose:  # None when a head's own gradient overflowed (float16) on an applied step
            self._pending_diag = self._named_diagnostics(diagnostics)
        self._train_seconds += time.perf_counter() - started
        if self.step_count % self.preset.training.validate_every == 0:
            self._pending_val = self.validate()

    def _on_nonfinite(self, losses) -> None:
        bad = [h for h, v in zip(self.head_names, losses) if not math.isfinite(float(v))]
        if bad:
            what = ", ".join(f"head {h!r} (loss {float(losses[self.head_names.index(h)])})" for h in bad)
            advice = f"lower {bad[0]}'s learning rate"
        else:
            what, advice = "a gradient", "lower a learning rate"
        self._fault = (f"non-finite value in {what} at step {self.step_count}: the step was not applied and "
                       f"training is paused; {advice}, then resume")
        self._paused = True
        self._note("nonfinite", f"step {self.step_count} skipped: non-finite {'/'.join(bad) or 'gradient'}")

    def _named_diagnostics(self, tensors: dict) -> dict | None:
        heads = self.head_names
        norms, shares = tensors["grad_norm"].numpy(), tensors["update_share"].numpy()
        cosine = tensors["cosine"].numpy()
        if not all(np.all(np.isfinite(v)) for v in (norms, shares, cosine)):
            return None
        return {
            "grad_norm": {h: float(v) for h, v in zip(heads, norms)},
            "update_share": {h: float(v) for h, v in zip(heads, shares)},
            "cosine": {f"{a}~{b}": float(cosine[i, j]) for i, a in enumerate(heads)
                       for j, b in enumerate(heads) if i < j},
            "conflict_share": float(tensors["conflict_share"].numpy()),
        }

    def effective_weights(self) -> dict:
        """The w_i the strategy in force uses now (adaptive weightings move them)."""
        values = self._rules[self.strategy].weighting.current().numpy()
        return {h: float(v) for h, v in zip(self.head_names, values)}

    def run(self, steps: int | None = None) -> Report:
        """Train `steps` steps (default: the preset's) in this thread; return the last report."""
        self._enter_run(steps)
        try:
            state = run_loop(self, self._target)
        except tf_errors().ResourceExhaustedError as err:
            message = out_of_memory_message(err)
            self._publish(ERROR, message=message)
            raise DeviceMemoryError(message) from None
        except Exception as err:  # reported, then re-raised for the caller
            self._publish(ERROR, message=f"{type(err).__name__}: {err}")
            raise
        finally:
            self._exit_run()
        return self._publish(state)

    def _train_one(self) -> None:
        self.step()

    def _enter_run(self, steps: int | None) -> None:
        steps = self.preset.training.steps if steps is None else steps
        if steps < 0:
            raise CommandError(f"steps must be >= 0, got {steps}")
        with self._lock:
            if self._running:
                raise RuntimeError("this Session is already running in another thread")
            self._running = True
        if not self._closed:
            self._stop.clear()
        self._target = self.step_count + steps
        self._last_report_time = time.perf_counter()
        self._last_report_step = self.step_count

    def _exit_run(self) -> None:
        with self._lock:
            self._running = False
            self._drain()

    def _wait_while_paused(self) -> None:
        pause_started = time.perf_counter()
        while self._paused and not self._stop.is_set():
            try:
                action = self._commands.get(timeout=0.05)
            except queue.Empty:
                continue
            action()
            if self._pending_events:
                self._publish(PAUSED)
        self._last_report_time += time.perf_counter() - pause_started

    def _report_due(self) -> bool:
        if self._pending_val is not None or self._pending_diag is not None or self._pending_events:
            return True
        if self.report_every is not None:
            return self.step_count - self._last_report_step >= self.report_every
        return time.perf_counter() - self._last_report_time >= self.report_interval

    def _publish(self, state: str, message: str | None = None) -> Report:
        message, self._fault = message or self._fault, None
        now = time.perf_counter()
        count = float(self._loss_count.numpy())
        # With no step since the last report (a pause, the final report), repeat the last values.
        previous = self.last_report
        train_loss = dict(previous.train_loss) if previous else {}
        total = previous.total_loss if previous else None
        if count > 0:
            means = self._loss_sum.numpy() / count
            train_loss = {h: float(v) for h, v in zip(self.head_names, means)}
            total = float(sum(self.weights[h] * self.loss_scales[h] * train_loss[h] for h in self.head_names))
            self._loss_sum.assign(self._tf.zeros_like(self._loss_sum))
            self._loss_count.assign(0.0)
        dt = now - self._last_report_time
        steps_done = self.step_count - self._last_report_step
        val_loss, val_metric = self._pending_val or (None, None)
        report = Report(
            step=self.step_count, target_step=self._target, state=state, strategy=self.strategy,
            train_loss=frozen(train_loss), total_loss=total,
            learning_rates=frozen(self.learning_rates), weights=frozen(self.weights),
            steps_per_sec=steps_done / dt if dt > 0 and steps_done else (previous.steps_per_sec if previous else 0.0),
            elapsed=self._train_seconds, val_loss=frozen(val_loss), val_metric=frozen(val_metric),
            events=tuple(self._pending_events), message=message,
            effective_weights=frozen(self.effective_weights()), diagnostics=self._pending_diag,
            loss_scale=None if self._loss_scale is None else float(self._loss_scale.scale.numpy()),
        )
        self._pending_events.clear()
        self._pending_val = None
        self._pending_diag = None
        self._last_report_time, self._last_report_step = now, self.step_count
        self.last_report = report
        self.history.add(report)
        for callback in list(self._subscribers):
            callback(report)
        return report

    # --- validation ----------------------------------------------------------------------

    def _make_eval_fn(self):
        tf = self._tf
        ctx = self._ctx

        def evaluate(x, y):
            preds = self.model(x, training=False)
            for name in self.head_names:
                self._metrics[name].update_state(y[name], preds[name])
            return tf.stack([ctx.loss_fns[name](y[name], preds[name]) for name in self.head_names])

        return tf.function(evaluate, autograph=False)

    def validate(self) -> tuple[dict, dict]:
        """Mean per-head validation loss and metric over the held-out batches."""
        if self._eval_fn is None:
            self._eval_fn = self._make_eval_fn()
        for metric in self._metrics.values():
            metric.reset_state()
        total, batches = None, 0
        for x, y in self.data.validation:
            losses = self._eval_fn(x, y)
            total = losses if total is None else total + losses
            batches += 1
        means = (total / batches).numpy()
        loss = {h: float(v) for h, v in zip(self.head_names, means)}
        metric = {h: float(self._metrics[h].result()) for h in self.head_names}
        return loss, metric

    # --- state: copies for forks ---------------------------------------------------------

    @property
    def loss_scale_state(self) -> tuple | None:
        """(scale, clean steps) of dynamic loss scaling, or None without it. Kept apart from
        `state_variables` so that a checkpoint fits a session of any precision."""
        if self._loss_scale is None:
            return None
        return float(self._loss_scale.scale.numpy()), int(self._loss_scale.clean_steps.numpy())

    @loss_scale_state.setter
    def loss_scale_state(self, state: tuple | None) -> None:
        if self._loss_scale is not None and state is not None:
            self._loss_scale.scale.assign(state[0])
            self._loss_scale.clean_steps.assign(state[1])

    def state_variables(self) -> list:
        """Model weights (trainable and not), then every strategy's state, in a fixed order."""
        variables = list(self.model.weights)
        for name in sorted(self._rules):
            variables.extend(self._rules[name].state_variables())
        return variables

    def copy_state_from(self, other: "Session") -> None:
        """Make this session's weights, optimizer and weighting states, and step an exact copy of other's."""
        for name in other._rules:
            self._rule(name)
        for mine, theirs in zip(self.state_variables(), other.state_variables(), strict=True):
            mine.assign(theirs)
        for name, rule in other._rules.items():
            self._rules[name].load_python_state(copy.deepcopy(rule.python_state()))
        self._initial_weights = [w.copy() for w in other._initial_weights]
        self.loss_scale_state = other.loss_scale_state
        self.step_count = other.step_count
        self.batches_drawn = other.batches_drawn

    def fork(self, branches, *, names=None):
        """Branches that start from an exact copy of this session and train on the same batches.

        `branches`: strategy names, or dicts {"strategy": ..., "lr": {head: rate}, "weight": {head: w}}.
        """
        from tui_mtl.comparison import Comparison

        return Comparison.fork(self, branches, names=names)

    # --- the session as a preset ---------------------------------------------------------

    def current_preset(self, name: str | None = None, description: str | None = None) -> Preset:
        """The preset that reproduces what is in force now: strategy, rates, weights, scales."""
        heads = []
        for head in self.preset.model.model_dump(mode="json")["heads"]:
            head.update(learning_rate=self.learning_rates[head["name"]], weight=self.weights[head["name"]],
                        loss_scale=self.loss_scales[head["name"]])
            heads.append(head)
        changes = {
            "model": {"heads": heads},
            "training": {"trunk_learning_rate": self.learning_rates[TRUNK]},
            "strategy": {"name": self.strategy},
        }
        if name is not None:
            changes["name"] = name
        if description is not None:
            changes["description"] = description
        return self.preset.with_changes(**changes)
