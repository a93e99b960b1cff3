"""What `run`, `resume` and `compare` share: applying --lr/--weight, training with signals handled,
and saying how a diverged run ended."""

from __future__ import annotations

import contextlib
import signal
import sys
from pathlib import Path

from tui_mtl.cli.args import UsageError, device_options
from tui_mtl.errors import CommandError


def apply_settings(session, lrs: list, weights: list, strategy: str | None) -> None:
    """--strategy, --lr HEAD=RATE, --weight HEAD=W, checked by the session's own rules."""
    if strategy:
        session.set_strategy(strategy)
    for flag, pairs, setter in (("--lr", lrs, session.set_lr), ("--weight", weights, session.set_weight)):
        for head, value in pairs or []:
            try:
                setter(head, value)
            except CommandError as err:
                raise UsageError(f"{flag} {head}={value:g}: {err}") from None


def check_settings(heads: list[str], lrs: list, weights: list) -> None:
    """The same checks before TensorFlow loads (a typo must not cost the seconds of an import)."""
    from tui_mtl.presets.numbers import parse_non_negative, parse_positive

    for flag, pairs, known, rule in (("--lr", lrs, heads + ["trunk"], parse_positive),
                                     ("--weight", weights, heads, parse_non_negative)):
        for head, value in pairs or []:
            if head not in known:
                raise UsageError(f"{flag} {head}=...: unknown head {head!r}; heads are {', '.join(known)}")
            try:
                rule(value, f"{'learning rate' if flag == '--lr' else 'weight'} of {head}")
            except CommandError as err:
                raise UsageError(f"{flag} {head}={value:g}: {err}") from None


@contextlib.contextmanager
def stop_on_signals(target):
    """ctrl+c, SIGTERM and SIGHUP (a dropped SSH connection) stop `target` at the next step boundary,
    so the metrics are flushed and the checkpoint is written; a second signal stops at once."""
    wanted = [signal.SIGINT, signal.SIGTERM] + ([signal.SIGHUP] if hasattr(signal, "SIGHUP") else [])
    previous = {sig: signal.getsignal(sig) for sig in wanted}

    def handler(signum, _frame):
        name = signal.Signals(signum).name
        print(f"{name}: stopping at the next step (send it again to stop at once)", file=sys.stderr, flush=True)
        target.stop()
        for sig in wanted:
            signal.signal(sig, signal.default_int_handler if sig == signal.SIGINT else signal.SIG_DFL)

    for sig in wanted:
        signal.signal(sig, handler)
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


class Stopper:
    """What `train` stops, remembering that it was stopped: a run that returns after ctrl+c /
    SIGTERM is cut short, and a caller that goes on (the next seed, the next trial) must know."""

    def __init__(self, target):
        self.target, self.stopped = target, False  # target None: between trainings, nothing to stop yet

    def stop(self) -> None:
        self.stopped = True
        if self.target is not None:
            self.target.stop()


def train(trainer, run):
    """`run()` with signals stopping at a step boundary; a second ctrl+c returns what was reached."""
    try:
        with stop_on_signals(trainer):
            return run()
    except KeyboardInterrupt:
        trainer.stop()
        print("interrupted", file=sys.stderr)
        return None


def preset_from_args(args):
    """The preset the command names, its data paths made absolute (the copy in the run folder must
    still find the files on resume), with --seed applied. Returns (path, preset)."""
    from tui_mtl.presets import find_preset_path, read_preset

    path = find_preset_path(args.preset)
    preset = read_preset(path).with_absolute_paths(path.parent)
    if args.seed is not None:
        preset = preset.with_changes(data={"seed": args.seed})
    return path, device_options(args).compiled(preset)


def make_run_dir(preset_name: str, runs_dir: str | None) -> Path:
    from tui_mtl.runs import new_run_dir

    try:
        return new_run_dir(preset_name, Path(runs_dir).expanduser() if runs_dir else None)
    except OSError as err:
        raise UsageError(f"cannot create a run folder: {err.strerror or err}") from None


def open_recorder(session, run_dir: Path, checkpoint_every: int | None = None):
    from tui_mtl.runs.recorder import RunRecorder

    return RunRecorder(run_dir, session, checkpoint_every=checkpoint_every)


def diverged_line(fault, where: str = "") -> str:
    """One line for stderr when training diverged (exit code 3)."""
    cause = f"undo {fault.blamed.rsplit(' at step', 1)[0]}" if fault.blamed else "lower a learning rate"
    return (f"tui-mtl: training diverged{where} at {fault.summary}. The run folder keeps the last applied "
            f"step; {cause} and run again.")
