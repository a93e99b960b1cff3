"""Importing TensorFlow for tui-mtl's own processes (the app, the commands), without two extras
Keras loads at import time that they never use: its scikit-learn wrappers (scikit-learn, and with
it scipy.stats: ~1 s here) and matplotlib's pyplot for an image gallery (~0.5 s). Keras guards both
imports, so it simply goes without them; anything importing them later gets the real module.
The import also runs without the garbage collector (it made five full collections of the growing
heap, ~0.8 s of a 3.4 s import, finding nothing), and its objects, which live as long as the
process, are frozen so later collections skip them.
A library user's `import tui_mtl` never goes through here."""

from __future__ import annotations

import gc
import sys
import threading

UNUSED_BY_KERAS_HERE = ("sklearn", "matplotlib.pyplot")
_lock = threading.Lock()


def import_tensorflow():
    """TensorFlow (and Keras), imported once; later calls return the module at once."""
    with _lock:
        if "tensorflow" in sys.modules:
            import tensorflow

            return tensorflow
        blocked = [name for name in UNUSED_BY_KERAS_HERE if name not in sys.modules]
        for name in blocked:
            sys.modules[name] = None  # type: ignore[assignment]  # `import name` raises ImportError
        collecting = gc.isenabled()
        gc.disable()
        try:
            import keras  # noqa: F401  (tensorflow's own import loads Keras through its lazy loader)
            import tensorflow
        finally:
            for name in blocked:
                if sys.modules.get(name, ...) is None:
                    del sys.modules[name]
            if collecting:
                gc.enable()
        gc.freeze()
        return tensorflow
