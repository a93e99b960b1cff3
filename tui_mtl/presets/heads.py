"""Heads: what each task predicts, its loss and metric (one table each), weight, rate and scale."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import Field, model_validator

from tui_mtl.presets.layers import Strict
from tui_mtl.presets.numbers import NonNegFloat, PositiveFloat

HeadKind = Literal["regression", "classification", "binary"]
KINDS: tuple[str, ...] = ("regression", "classification", "binary")


@dataclass(frozen=True)
class LossEntry:
    keras_class: str  # in keras.losses
    kinds: tuple[str, ...]
    short: str  # for narrow table columns


@dataclass(frozen=True)
class MetricEntry:
    keras_class: str  # in keras.metrics, per head kind
    kinds: tuple[str, ...]


LOSSES: dict[str, LossEntry] = {
    "mse": LossEntry("MeanSquaredError", ("regression",), "mse"),
    "mae": LossEntry("MeanAbsoluteError", ("regression",), "mae"),
    "huber": LossEntry("Huber", ("regression",), "huber"),
    "log_cosh": LossEntry("LogCosh", ("regression",), "logcosh"),
    "sparse_categorical_crossentropy": LossEntry("SparseCategoricalCrossentropy", ("classification",), "xent"),
    "binary_crossentropy": LossEntry("BinaryCrossentropy", ("binary",), "bce"),
}
METRICS: dict[tuple[str, str], str] = {  # (kind, metric) -> keras.metrics class
    ("regression", "mae"): "MeanAbsoluteError",
    ("regression", "mse"): "MeanSquaredError",
    ("regression", "rmse"): "RootMeanSquaredError",
    ("classification", "accuracy"): "SparseCategoricalAccuracy",
    ("binary", "accuracy"): "BinaryAccuracy",
}
DEFAULT_LOSS = {"regression": "mse", "classification": "sparse_categorical_crossentropy",
                "binary": "binary_crossentropy"}
DEFAULT_METRIC = {"regression": "mae", "classification": "accuracy", "binary": "accuracy"}
OUTPUT_ACTIVATION = {"regression": "linear", "classification": "softmax", "binary": "sigmoid"}


def losses_for(kind: str) -> tuple[str, ...]:
    return tuple(name for name, entry in LOSSES.items() if kind in entry.kinds)


def metrics_for(kind: str) -> tuple[str, ...]:
    return tuple(metric for k, metric in METRICS if k == kind)


def loss_label(loss: str) -> str:
    entry = LOSSES.get(loss)
    return entry.short if entry else loss


class HeadSpec(Strict):
    name: str = Field(pattern=r"^[A-Za-z][A-Za-z0-9_]{0,31}$")
    kind: HeadKind = "regression"
    target: str | None = None  # which target of the data source; defaults to the head's name
    hidden: list[Annotated[int, Field(gt=0)]] = Field(default_factory=list)
    units: int | None = Field(default=None, gt=0)
    loss: str | None = None
    metric: str | None = None
    weight: NonNegFloat = 1.0
    learning_rate: PositiveFloat = 1e-3
    loss_scale: PositiveFloat = 1.0  # multiplies the loss: the "what if this loss were 1000x" knob
    # the output is logits (no softmax/sigmoid): the loss and metric take them as such
    logits: bool = False

    @model_validator(mode="after")
    def _fill_and_check(self) -> "HeadSpec":
        loss = self.loss or DEFAULT_LOSS[self.kind]
        if loss not in losses_for(self.kind):
            raise ValueError(f"loss {loss!r} does not fit a {self.kind} head; "
                             f"use one of {', '.join(losses_for(self.kind))}")
        metric = self.metric or DEFAULT_METRIC[self.kind]
        if metric not in metrics_for(self.kind):
            raise ValueError(f"metric {metric!r} does not fit a {self.kind} head; "
                             f"use one of {', '.join(metrics_for(self.kind))}")
        if self.logits and self.kind == "regression":
            raise ValueError("logits = true is for classification and binary heads; a regression head's "
                             "output is its value")
        units = self.units
        if self.kind == "classification":
            if units is None or units < 2:
                raise ValueError("a classification head needs units >= 2 (the number of classes)")
        elif units is None:
            units = 1
        elif self.kind == "binary" and units != 1:
            raise ValueError("a binary head has units = 1")
        object.__setattr__(self, "loss", loss)
        object.__setattr__(self, "metric", metric)
        object.__setattr__(self, "units", units)
        return self

    @property
    def target_name(self) -> str:
        return self.target or self.name

    @property
    def output_units(self) -> int:
        assert self.units is not None  # filled in by the validator
        return self.units

    def param_count(self, features: int) -> int:
        total, width = 0, features
        for units in (*self.hidden, self.output_units):
            total += width * units + units
            width = units
        return total

    def summary(self) -> str:
        hidden = f" hidden {self.hidden}" if self.hidden else ""
        units = f"{self.units} classes" if self.kind == "classification" else self.kind
        scale = f", loss scale {self.loss_scale:g}" if self.loss_scale != 1 else ""
        target = f", target {self.target}" if self.target and self.target != self.name else ""
        return (f"{self.name}: {units}{target}, loss {self.loss}, metric {self.metric}, weight {self.weight:g}, "
                f"lr {self.learning_rate:g}{scale}{hidden}")

    def build_layers(self) -> list[Any]:
        """Hidden layers, then the output layer named after the head (so the model's outputs are
        keyed by head), in float32 whatever the compute dtype: losses and softmax stay accurate."""
        import keras

        layers = [keras.layers.Dense(units, activation="relu", name=f"{self.name}_hidden_{i}")
                  for i, units in enumerate(self.hidden)]
        activation = "linear" if self.logits else OUTPUT_ACTIVATION[self.kind]
        layers.append(keras.layers.Dense(self.output_units, activation=activation, name=self.name, dtype="float32"))
        return layers

    def make_loss(self) -> Any:
        import keras

        loss = getattr(keras.losses, LOSSES[str(self.loss)].keras_class)
        return loss(from_logits=True) if self.logits else loss()

    def make_metric(self) -> Any:
        import keras

        metric = getattr(keras.metrics, METRICS[(self.kind, str(self.metric))])
        if self.logits and self.kind == "binary":  # sigmoid(z) > 0.5 exactly when z > 0
            return metric(threshold=0.0)
        return metric()
