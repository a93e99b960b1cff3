"""Checkpoints: one `.npz` file holding every variable of a Session and a JSON description.

Everything needed to continue exactly: model weights (trainable and not), every optimizer's state
for every strategy used so far, adaptive-weighting state, rates, weights, loss scales, the strategy
in force, the rules' Python state (whose turn it is), the history, the step and how many batches
were drawn, the precision and the dynamic loss scale. Written atomically: a crash while writing leaves the previous checkpoint intact.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np

from tui_mtl.errors import TuiMtlError
from tui_mtl.fileio import atomic_write_bytes
from tui_mtl.history import History
from tui_mtl.reports import Event

FORMAT = 1


class CheckpointError(TuiMtlError):
    pass


def _jsonable(value):
    """numpy scalars and arrays (e.g. a numpy Generator's state) to plain JSON types."""
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def describe(session) -> dict:
    return {
        "format": FORMAT,
        "preset": session.preset.name,
        "step": session.step_count,
        "batches_drawn": session.batches_drawn,
        "strategy": session.strategy,
        "rules": sorted(session._rules),
        "python_state": {name: _jsonable(rule.python_state()) for name, rule in session._rules.items()},
        "learning_rates": session.learning_rates,
        "weights": session.weights,
        "loss_scales": session.loss_scales,
        "mixed_precision": session.mixed_precision,
        "loss_scale": session.loss_scale_state,
        "train_seconds": session._train_seconds,
        "events": [[e.step, e.kind, e.text] for e in session.events],
        "history": session.history.to_dict(),
        "shapes": [list(v.shape) for v in session.state_variables()],
    }


def save(session, path: str | Path) -> Path:
    """Write the session's whole state to `path` (a .npz file), atomically."""
    path = Path(path)
    meta = describe(session)
    arrays = {f"v{i:05d}": np.asarray(v.numpy() if hasattr(v, "numpy") else v)
              for i, v in enumerate(session.state_variables())}
    buffer = io.BytesIO()
    np.savez(buffer, meta=np.frombuffer(json.dumps(meta).encode("utf-8"), dtype=np.uint8), **arrays)
    atomic_write_bytes(path, buffer.getvalue())
    return path


def read_meta(path: str | Path) -> dict:
    try:
        with np.load(path, allow_pickle=False) as archive:
            return json.loads(archive["meta"].tobytes().decode("utf-8"))
    except (OSError, ValueError, KeyError) as err:
        raise CheckpointError(f"{path}: not a readable tui-mtl checkpoint ({err})") from None


def load(session, path: str | Path) -> None:
    """Restore a checkpoint into a Session built from the same preset."""
    path = Path(path)
    meta = read_meta(path)
    if meta.get("format") != FORMAT:
        raise CheckpointError(f"{path}: checkpoint format {meta.get('format')} is not {FORMAT}")
    if set(meta["weights"]) != set(session.head_names):
        raise CheckpointError(f"{path}: its heads {sorted(meta['weights'])} are not the preset's "
                              f"{sorted(session.head_names)}")
    for name in meta["rules"]:
        session._rule(name)
    variables = session.state_variables()
    shapes = [list(v.shape) for v in variables]
    if shapes != meta["shapes"]:
        raise CheckpointError(f"{path}: the checkpoint's variables do not fit this preset's model "
                              f"({len(meta['shapes'])} saved, {len(shapes)} here)")
    with np.load(path, allow_pickle=False) as archive:
        for i, variable in enumerate(variables):
            variable.assign(archive[f"v{i:05d}"])
    for name, state in meta["python_state"].items():
        session._rules[name].load_python_state(state)
    session.learning_rates = dict(meta["learning_rates"])
    session.weights = dict(meta["weights"])
    session.loss_scales = dict(meta["loss_scales"])
    session._weights_var.assign([session.weights[h] for h in session.head_names])
    session._scales_var.assign([session.loss_scales[h] for h in session.head_names])
    head_lrs = {h: session.learning_rates[h] for h in session.head_names}
    for rule in session._rules.values():
        rule.set_learning_rates(session.learning_rates["trunk"], head_lrs)
    session.loss_scale_state = meta.get("loss_scale")
    session.strategy = meta["strategy"]
    session.step_count = int(meta["step"])
    session._train_seconds = float(meta["train_seconds"])
    session.events = [Event(int(s), k, t) for s, k, t in meta["events"]]
    session.history = History.from_dict(meta["history"])
    session.skip_to_batch(int(meta["batches_drawn"]))
