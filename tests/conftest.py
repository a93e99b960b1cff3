import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest

from tui_mtl.presets import Preset


def tiny_preset(**changes) -> Preset:
    """8x8 shapes, a two-layer trunk and three heads of every kind: a TensorFlow step takes ~1 ms."""
    base = {
        "name": "tiny",
        "description": "tiny test preset",
        "model": {
            "input_shape": [8, 8, 1],
            "trunk": [
                {"type": "conv2d", "filters": 4, "kernel_size": 3},
                {"type": "flatten"},
                {"type": "dense", "units": 8},
            ],
            "heads": [
                {"name": "size", "kind": "regression", "weight": 0.3, "learning_rate": 0.01},
                {"name": "shape", "kind": "classification", "units": 3, "weight": 0.7, "learning_rate": 0.01},
                {"name": "bright", "kind": "binary", "weight": 1.5, "learning_rate": 0.01},
            ],
        },
        "data": {"source": "shapes", "params": {"image_size": 8, "samples": 512}, "seed": 0, "shuffle": False},
        "training": {"batch_size": 16, "steps": 20, "trunk_learning_rate": 0.01, "validate_every": 10,
                     "validation_batches": 2},
        "strategy": {"name": "summed"},
    }
    preset = Preset.model_validate(base)
    return preset.with_changes(**changes) if changes else preset


def wait_for(predicate, timeout: float = 20.0) -> bool:
    """Poll `predicate` until it holds (True) or `timeout` seconds pass (False, after printing every
    thread's stack to stderr: a wait that times out in CI shows where the training thread was)."""
    import time

    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    dump_threads(f"wait_for timed out after {timeout} s")
    return False


def dump_threads(why: str) -> None:
    import sys
    import threading
    import traceback

    names = {t.ident: t.name for t in threading.enumerate()}
    print(f"--- {why}: every thread's stack ---", file=sys.stderr)
    for ident, frame in sys._current_frames().items():
        print(f"thread {names.get(ident, ident)}:", "".join(traceback.format_stack(frame)), sep="\n", file=sys.stderr)


@pytest.fixture
def tiny():
    return tiny_preset()


@pytest.fixture(autouse=True)
def isolated_dirs(tmp_path, monkeypatch):
    """Never read or write the real user's presets or runs."""
    monkeypatch.setenv("TUI_MTL_PRESETS_DIR", str(tmp_path / "user-presets"))
    monkeypatch.setenv("TUI_MTL_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.setenv("TUI_MTL_CONFIG_DIR", str(tmp_path / "config"))
    return tmp_path
