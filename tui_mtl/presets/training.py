"""[training]: batch, steps, the optimizer every strategy builds its optimizers from, cadences."""

from __future__ import annotations

from typing import Annotated, Any, Literal, Union

from pydantic import Field

from tui_mtl.presets.layers import Strict
from tui_mtl.presets.numbers import PositiveFloat


class AdamSpec(Strict):
    name: Literal["adam"] = "adam"
    beta_1: float = Field(default=0.9, ge=0, lt=1)
    beta_2: float = Field(default=0.999, ge=0, lt=1)
    epsilon: PositiveFloat = 1e-7

    def make(self, learning_rate: float) -> Any:
        import keras

        return keras.optimizers.Adam(learning_rate, beta_1=self.beta_1, beta_2=self.beta_2, epsilon=self.epsilon)


class SGDSpec(Strict):
    name: Literal["sgd"]
    momentum: float = Field(default=0.0, ge=0, lt=1)
    nesterov: bool = False

    def make(self, learning_rate: float) -> Any:
        import keras

        return keras.optimizers.SGD(learning_rate, momentum=self.momentum, nesterov=self.nesterov)


class RMSpropSpec(Strict):
    name: Literal["rmsprop"]
    rho: float = Field(default=0.9, gt=0, lt=1)
    momentum: float = Field(default=0.0, ge=0, lt=1)
    epsilon: PositiveFloat = 1e-7

    def make(self, learning_rate: float) -> Any:
        import keras

        return keras.optimizers.RMSprop(learning_rate, rho=self.rho, momentum=self.momentum, epsilon=self.epsilon)


OptimizerSpec = Annotated[Union[AdamSpec, SGDSpec, RMSpropSpec], Field(discriminator="name")]


class TrainingSpec(Strict):
    batch_size: int = Field(default=32, gt=0, le=65536)
    steps: int = Field(default=2000, gt=0)
    optimizer: OptimizerSpec = Field(default_factory=AdamSpec)
    trunk_learning_rate: PositiveFloat = 1e-3
    validate_every: int = Field(default=100, gt=0)
    validation_batches: int = Field(default=4, gt=0)
    # per-head trunk gradient diagnostics every N steps (0: never); costs K backward passes under summed
    diagnostics_every: int = Field(default=25, ge=0)
    # training steps per TensorFlow call (as Keras' steps_per_execution): "auto" grows it until a call
    # takes ~25 ms, so changes still apply within that; 1: one step per call
    steps_per_call: Literal["auto"] | Annotated[int, Field(ge=1, le=1000)] = "auto"
    # compile each step with XLA (as Keras' jit_compile): often faster on a GPU, ~2x slower on a CPU
    jit_compile: bool = False
