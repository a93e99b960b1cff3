"""Take a strategy home: train your own multi-output Keras model with `model.fit` and a tui-mtl
strategy (grouped optimizers, PCGrad, an adaptive weighting, ...)."""

from tui_mtl.keras.callbacks import ReduceHeadLROnPlateau
from tui_mtl.keras.live import LiveCallback
from tui_mtl.keras.model import MultiTaskModel

__all__ = ["LiveCallback", "MultiTaskModel", "ReduceHeadLROnPlateau"]
