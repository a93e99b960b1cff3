"""Keras callbacks that act on one head of a MultiTaskModel."""

from __future__ import annotations

import keras


class _HeadRate:
    """One head's rate, seen as the `learning_rate` of an optimizer (what ReduceLROnPlateau changes)."""

    def __init__(self, model, head: str):
        self._model, self._head = model, head

    @property
    def learning_rate(self) -> float:
        return self._model.learning_rate(self._head)

    @learning_rate.setter
    def learning_rate(self, rate: float) -> None:
        self._model.set_learning_rate(self._head, rate)


class ReduceHeadLROnPlateau(keras.callbacks.ReduceLROnPlateau):
    """Keras' ReduceLROnPlateau on one head's learning rate (or "trunk") of a MultiTaskModel: every
    optimizer of the strategy that holds that rate follows (grouped: the head's own optimizer).
    `monitor` defaults to the head's validation loss."""

    def __init__(self, head: str, monitor: str | None = None, **kwargs):
        super().__init__(monitor=monitor or f"val_{head}_loss", **kwargs)
        self.head = head

    def _reduce_optimizer_lr(self, optimizer, epoch, name=""):
        return super()._reduce_optimizer_lr(_HeadRate(self.model, self.head), epoch, f"{self.head}'s")
