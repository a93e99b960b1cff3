"""tui-mtl: train multi-head Keras networks live in the terminal, under switchable strategies."""

from tui_mtl.presets import Preset, load_preset

__version__ = "0.1.0"
__all__ = ["Preset", "Session", "load_preset", "__version__"]


def __getattr__(name: str):
    # Session pulls in TensorFlow (seconds): import it only when asked for.
    if name == "Session":
        from tui_mtl.engine import Session

        return Session
    raise AttributeError(name)
