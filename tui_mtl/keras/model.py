"""`MultiTaskModel`: a keras.Model around yours whose `train_step` is tui-mtl's step builder, as the
keras.io guide "customizing what happens in fit" does it. The strategy's optimizers, weighting and
aggregator state are made at `compile`; `fit`, `evaluate`, `predict` and callbacks are Keras' own.

    model = MultiTaskModel(my_model, strategy="pcgrad@grouped", learning_rates={"a": 1e-3, "b": 3e-4})
    model.compile(loss={"a": "mse", "b": keras.losses.SparseCategoricalCrossentropy()},
                  loss_weights={"a": 1.0, "b": 0.5})
    model.fit(ds, epochs=10)   # logs: loss, a_loss, b_loss (and val_ ones)

The same strategy on the same batches gives the same weights as a tui-mtl Session (tested).
"""

from __future__ import annotations

import contextlib

from typing import Any, Callable, Iterator

import keras
import tensorflow as tf
from keras.src.trainers.compile_utils import MetricsList  # the container Keras' callbacks search (see _Losses)

from tui_mtl.model import multi_head_view
from tui_mtl.strategies import step as steps
from tui_mtl.strategies.base import StepContext
from tui_mtl.strategies.catalog import ComponentParams, parse_strategy
from tui_mtl.strategies.strategy import Strategy

DEFAULT_RATE = 1e-3


class _BatchMean(keras.losses.Loss):
    """A per-sample loss function as a Loss object (the default reduction: the batch mean)."""

    def __init__(self, fn: Callable):
        super().__init__(name=getattr(fn, "__name__", "loss"))
        self.fn = fn

    def call(self, y_true, y_pred):
        return self.fn(y_true, y_pred)


def _loss(spec: Any) -> keras.losses.Loss:
    """A Keras loss (object, class name or function name) reducing to the batch mean."""
    loss = keras.losses.get(spec)
    return loss if isinstance(loss, keras.losses.Loss) else _BatchMean(loss)


def _optimizer_factory(optimizer: str | Callable) -> Callable[[float], keras.optimizers.Optimizer]:
    if callable(optimizer):
        return optimizer
    return lambda rate: keras.optimizers.get({"class_name": optimizer, "config": {"learning_rate": rate}})


@contextlib.contextmanager
def _optimizers_update_here(distribution: tf.distribute.Strategy) -> Iterator[None]:
    """Keras' optimizer asks for a merge_call before it moves the variables (`maybe_merge_call`), which
    only a replica context can give. Inside our own merge_call we are already in cross-replica context,
    where its update (`distribution.extended.update`) runs as is: tell the strategy no merge is needed."""
    extended = distribution.extended
    extended._use_merge_call = lambda: False
    try:
        yield
    finally:
        del extended._use_merge_call  # the strategy's own method again


class _Losses(MetricsList):
    """The per-head loss means as one metrics container: Keras' callbacks look for a metric's direction
    (EarlyStopping(monitor="val_a_loss") without `mode`) only inside such a container."""

    def result(self):
        return {metric.name: metric.result() for metric in self.metrics}


@keras.saving.register_keras_serializable(package="tui_mtl")
class MultiTaskModel(keras.Model):
    def __init__(self, model: keras.Model, strategy: str = "summed", learning_rates: dict | None = None,
                 optimizer: str | Callable[[float], keras.optimizers.Optimizer] = "adam",
                 params: dict | None = None, seed: int = 0, loss_scales: dict | None = None, **kwargs):
        """`model`: a functional model with one named output per head. `learning_rates`: per head,
        and `trunk` (the summed layout's trunk optimizer); unnamed ones are 1e-3. `optimizer`: a
        Keras optimizer name or `rate -> optimizer`, built once per optimizer the layout needs.
        `params`: component parameters by component name, e.g. {"dwa": {"window": 20}}.
        `loss_scales`: per head, multiplies its loss inside the step (a preset's loss_scale; default 1)."""
        super().__init__(name=kwargs.pop("name", "multi_task"), **kwargs)
        parsed = parse_strategy(strategy)
        if parsed.layout == "alternating":
            raise ValueError("alternating picks one head per step on the host; it cannot run inside one traced "
                             "train_step: use it in tui-mtl, or summed / grouped here")
        self.inner = model
        self.net = multi_head_view(model)
        self.strategy_name = parsed.canonical
        unknown = set(learning_rates or {}) - {"trunk", *self.net.head_names}
        if unknown:
            raise ValueError(f"learning_rates: unknown head(s) {', '.join(sorted(unknown))}; heads are "
                             f"{', '.join(self.net.head_names)} (and trunk)")
        self.rates = {"trunk": DEFAULT_RATE, **{h: DEFAULT_RATE for h in self.net.head_names},
                      **(learning_rates or {})}
        self._optimizer_name = optimizer if isinstance(optimizer, str) else None  # what get_config can save
        self._make_optimizer = _optimizer_factory(optimizer)
        components = parsed.components().values()
        self._params = ComponentParams({c.name: c.parse_params((params or {}).get(c.name)) for c in components})
        self._params_given = dict(params or {})
        self._seed = seed
        unknown = set(loss_scales or {}) - set(self.net.head_names)
        if unknown:
            raise ValueError(f"loss_scales: unknown head(s) {', '.join(sorted(unknown))}; heads are "
                             f"{', '.join(self.net.head_names)}")
        self._loss_scales = [float((loss_scales or {}).get(h, 1.0)) for h in self.net.head_names]
        self.strategy: Strategy | None = None
        self._distribution: tf.distribute.Strategy | None = None  # set at compile: multi-device only

    def get_config(self) -> dict:
        """What `model.save("m.keras")` records to rebuild the wrapper (your model inside it, by
        Keras' own serialisation); the strategy's optimizer and weighting state start fresh on load."""
        if self._optimizer_name is None:
            raise ValueError("a MultiTaskModel saves with optimizer given by name (e.g. \"adam\"); with an "
                             "optimizer function, save the model you wrapped instead")
        return {"model": keras.saving.serialize_keras_object(self.inner), "strategy": self.strategy_name,
                "learning_rates": dict(self.rates), "optimizer": self._optimizer_name,
                "params": self._params_given, "seed": self._seed,
                "loss_scales": dict(zip(self.net.head_names, self._loss_scales)), "name": self.name}

    def get_compile_config(self) -> dict | None:
        compiled = getattr(self, "_compiled_with", None)
        if compiled is None:
            return None
        return {"loss": {h: keras.saving.serialize_keras_object(spec) for h, spec in compiled["loss"].items()},
                "loss_weights": compiled["loss_weights"]}

    def compile_from_config(self, config: dict) -> None:
        """On load: compile again with the saved per-head losses and weights (fresh strategy state)."""
        self.compile(loss={h: keras.saving.deserialize_keras_object(spec) for h, spec in config["loss"].items()},
                     loss_weights=config["loss_weights"])

    @classmethod
    def from_config(cls, config: dict) -> "MultiTaskModel":
        config = dict(config)
        config["model"] = keras.saving.deserialize_keras_object(config["model"])
        return cls(**config)

    def call(self, inputs, training=False):
        return self.inner(inputs, training=training)

    def compile(self, loss: dict, loss_weights: dict | None = None, **kwargs) -> None:
        self._distribution = self._replicated_strategy()
        if self._distribution is not None and kwargs.get("steps_per_execution", 1) > 1:
            # measured with TensorFlow 2.21 / Keras 3.15 on 2 logical CPUs: a plain keras.Model fails the same way
            raise ValueError("steps_per_execution > 1 does not run under a multi-device tf.distribute strategy "
                             "(Keras' own fit fails on it there too): compile with steps_per_execution=1")
        heads = self.net.head_names
        missing = [h for h in heads if h not in loss]
        if missing or set(loss) - set(heads):
            raise ValueError(f"loss: give one loss per head ({', '.join(heads)}); "
                             f"missing {missing or 'none'}, unknown {sorted(set(loss) - set(heads)) or 'none'}")
        weights = [float((loss_weights or {}).get(h, 1.0)) for h in heads]
        self._compiled_with = {"loss": dict(loss), "loss_weights": dict(zip(heads, weights))}
        self.ctx = StepContext(self.net, {h: _loss(loss[h]) for h in heads},
                               tf.Variable(weights, trainable=False, name="loss_weights"),
                               tf.Variable(self._loss_scales, trainable=False, name="loss_scales"),
                               self._make_optimizer, seed=self._seed,
                               **steps.replica_hooks(self._distribution, lambda x, y: self.ctx.forward_losses(x, y)))
        self.strategy = Strategy(self.ctx, self.strategy_name, self.rates, self._params)
        self._need = steps.gradient_need(self.strategy)
        optimizers = self.strategy.layout.optimizers()
        kwargs.setdefault("jit_compile", False)  # the aggregators' small solves are not all XLA-friendly
        # Keras' own optimizer slot: the one whose rate callbacks (ReduceLROnPlateau) would change
        super().compile(optimizer=optimizers.get("trunk") or next(iter(optimizers.values())), **kwargs)
        self._trackers = {name: keras.metrics.Mean(name=name)
                          for name in ("loss", *(f"{h}_loss" for h in heads))}
        for tracker in self._trackers.values():
            tracker._direction = "down"  # what Keras' callbacks read to tell min from max (mode="auto")
        self._head_losses = _Losses(list(self._trackers.values()))

    def _replicated_strategy(self) -> tf.distribute.Strategy | None:
        """The multi-device tf.distribute strategy fit will run under (None: one device). Keras fixes a
        model's strategy when the model is made, so the wrapper and your model must be made in its scope."""
        made_in = self._distribute_strategy
        current = tf.distribute.get_strategy() if tf.distribute.has_strategy() else None
        if current is not None and current is not made_in:
            raise ValueError("compile is inside a tf.distribute scope the MultiTaskModel was not made in: make "
                             "your model and the MultiTaskModel inside `with strategy.scope():` too")
        if made_in is None or made_in.num_replicas_in_sync == 1:
            return None
        outside = [v.path for v in self.inner.weights if not isinstance(v.value, tf.distribute.DistributedValues)]
        if outside:
            raise ValueError(f"your model's variables were made outside strategy.scope() (e.g. {outside[0]}): "
                             "build or load the model inside `with strategy.scope():`")
        return made_in

    @property
    def metrics(self) -> list:
        losses = getattr(self, "_head_losses", None)
        return [losses] if losses is not None else []

    def learning_rate(self, owner: str) -> float:
        """The rate in force for a head (or "trunk"), as set at construction or by set_learning_rate."""
        return float(self.rates[owner])

    def set_learning_rate(self, owner: str, rate: float) -> None:
        """Change a head's (or the trunk's) rate in every optimizer of the strategy that has it; no retrace."""
        if owner not in self.rates:
            raise ValueError(f"unknown head {owner!r}; heads are {', '.join(self.net.head_names)} (and trunk)")
        self.rates[owner] = float(rate)
        if self.strategy is not None:
            self.strategy.set_learning_rates(self.rates)

    def _track(self, losses: list) -> dict:
        weights = self.ctx.weights
        self._trackers["loss"].update_state(tf.add_n([weights[i] * loss for i, loss in enumerate(losses)]))
        for head, loss in zip(self.net.head_names, losses):
            self._trackers[f"{head}_loss"].update_state(loss)
        return {name: tracker.result() for name, tracker in self._trackers.items()}

    def _targets(self, y) -> dict:
        return dict(y) if isinstance(y, dict) else dict(zip(self.net.head_names, y))

    def train_step(self, data):
        """Under a multi-device strategy Keras runs this once per replica on its part of the batch:
        the plan (global means and gradients, as Keras losses come divided by the replica count) is
        summed over replicas, then applied once, in cross-replica context, as tui-mtl's Session does."""
        x, y = data[0], self._targets(data[1])
        strategy = self.strategy
        if strategy is None:
            raise RuntimeError("compile the MultiTaskModel before fit: compile makes the strategy's optimizers")
        plan = steps.compute(self.ctx, strategy, self._need, x, y, 0, False)
        if self._distribution is None:
            steps.apply(self.ctx, strategy, self._need, x, y, plan, 0, False)  # a non-finite step is skipped
        else:
            replica = tf.distribute.get_replica_context()
            plan = replica.all_reduce("SUM", plan)
            replica.merge_call(self._apply_once, args=(x, y, plan))
        return self._track(plan.losses)

    def _apply_once(self, distribution: tf.distribute.Strategy, x, y, plan: steps.Plan) -> None:
        """In cross-replica context: every replica holds the same summed plan; apply one copy (x and y
        stay per replica, for a weighting that evaluates the losses again after the step, FAMO)."""
        assert self.strategy is not None
        plan = tf.nest.map_structure(lambda v: distribution.experimental_local_results(v)[0], plan)
        with _optimizers_update_here(distribution):
            steps.apply(self.ctx, self.strategy, self._need, x, y, plan, 0, False)

    def test_step(self, data):
        x, y = data[0], self._targets(data[1])
        preds = self.net.model(x, training=False)  # by head name
        losses = [self.ctx.loss_fns[h](y[h], preds[h]) for h in self.net.head_names]
        if self._distribution is not None:  # each replica's loss came divided by the replica count
            losses = tf.distribute.get_replica_context().all_reduce("SUM", losses)
        return self._track(losses)
