"""Checkpoints: one `.npz` file holding every variable of a Session, by name, and a JSON description.

Everything needed to continue exactly: model weights (trainable and not), every optimizer's state
for every strategy used so far, adaptive-weighting state, rates, weights, loss scales, the strategy
in force, the strategies' Python state (whose turn it is), the history, the step, the run's target,
how many batches were drawn, the precision and the dynamic loss scale. Written atomically: a crash
while writing leaves the previous checkpoint intact.

Format 2 names every array (`model/3`, `strategy/grouped/layout/optimizer/x/4`); format 1 (earlier
versions) stored them by position, in the order `TFStepper.state_names` still produces.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np

from tui_mtl.engine.history import History
from tui_mtl.engine.reports import Event
from tui_mtl.engine.stepper import StepperState
from tui_mtl.errors import TuiMtlError
from tui_mtl.fileio import atomic_write_bytes

FORMAT = 2
READABLE = (1, 2)


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


def describe(session, state: StepperState) -> dict:
    return {
        "format": FORMAT,
        "preset": session.preset.name,
        "step": session.step_count,
        "target": session.target,
        "batches_drawn": state.batches_drawn,
        "strategy": session.strategy,
        "rules": list(state.strategies),
        "python_state": _jsonable(state.python),
        "learning_rates": session.learning_rates,
        "weights": session.weights,
        "loss_scales": session.loss_scales,
        "mixed_precision": session.mixed_precision,
        "loss_scale": list(state.loss_scale) if state.loss_scale is not None else None,
        "train_seconds": session.train_seconds,
        "events": [[e.step, str(e.kind), e.text] for e in session.events],
        "history": session.history.to_dict(),
        "names": list(state.arrays),
    }


def save(session, path: str | Path) -> Path:
    """Write the session's whole state to `path` (a .npz file), atomically (call at a step boundary)."""
    path = Path(path)
    state = session.capture()
    meta = describe(session, state)
    arrays = {f"v{i:05d}": np.asarray(value) for i, value in enumerate(state.arrays.values())}
    buffer = io.BytesIO()
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode("utf-8"), dtype=np.uint8)
    np.savez(buffer, **arrays)  # type: ignore[arg-type]  # numpy's stub types the first keyword as allow_pickle
    atomic_write_bytes(path, buffer.getvalue())
    return path


def read_meta(path: str | Path) -> dict:
    try:
        with np.load(path, allow_pickle=False) as archive:
            return json.loads(archive["meta"].tobytes().decode("utf-8"))
    except (OSError, ValueError, KeyError) as err:
        raise CheckpointError(f"{path}: not a readable tui-mtl checkpoint ({err})") from None


def _names(meta: dict, session, path: Path) -> list[str]:
    """The name of each saved array; CheckpointError when they do not fit the session's model."""
    here = session.stepper.state_names(list(meta["rules"]))
    if meta["format"] == 1:  # by position: model weights, then each strategy's state, by name
        return here
    saved = list(meta["names"])
    if set(saved) != set(here):
        raise CheckpointError(f"{path}: the checkpoint's variables do not fit this preset's model "
                              f"({len(saved)} saved, {len(here)} here)")
    return saved


def load(session, path: str | Path) -> None:
    """Restore a checkpoint into a Session built from the same preset."""
    path = Path(path)
    meta = read_meta(path)
    if meta.get("format") not in READABLE:
        raise CheckpointError(f"{path}: checkpoint format {meta.get('format')} is not one of {READABLE}")
    if set(meta["weights"]) != set(session.head_names):
        raise CheckpointError(f"{path}: its heads {sorted(meta['weights'])} are not the preset's "
                              f"{sorted(session.head_names)}")
    names = _names(meta, session, path)
    with np.load(path, allow_pickle=False) as archive:
        count = len([key for key in archive.files if key.startswith("v")])
        if count != len(names):
            raise CheckpointError(f"{path}: the checkpoint's variables do not fit this preset's model "
                                  f"({count} saved, {len(names)} here)")
        arrays = {name: archive[f"v{i:05d}"] for i, name in enumerate(names)}
    scale = meta.get("loss_scale")
    state = StepperState(arrays, dict(meta["python_state"]), tuple(meta["rules"]),
                         tuple(scale) if scale is not None else None, int(meta["batches_drawn"]))
    try:
        session.restore_progress(
            step=int(meta["step"]), strategy=meta["strategy"], learning_rates=meta["learning_rates"],
            weights=meta["weights"], loss_scales=meta["loss_scales"], train_seconds=float(meta["train_seconds"]),
            events=[Event(int(s), k, t) for s, k, t in meta["events"]], history=History.from_dict(meta["history"]),
            state=state, target=meta.get("target"))
    except ValueError as err:
        raise CheckpointError(f"{path}: {err}") from None


def resume_target(step: int, saved_target: int | None, preset_steps: int, more: int | None = None) -> int:
    """Where a resumed run stops. `more`: that many more steps. Else the run's own target; a run that
    reached it (or an old checkpoint that did not record it) trains up to the preset's steps, or
    that many again."""
    if more is not None:
        return step + more
    if saved_target is not None and saved_target > step:
        return saved_target
    if saved_target is None and preset_steps > step:
        return preset_steps
    return step + preset_steps
