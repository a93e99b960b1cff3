"""What every command's arguments share, declared once: a parser whose errors are one line, the
argparse types (whole numbers, seeds, HEAD=VALUE, strategy names) and the option groups (devices,
run folders)."""

from __future__ import annotations

import argparse
import math
import os
import sys
from typing import NoReturn

from tui_mtl.devices import PRECISIONS, DeviceOptions
from tui_mtl.errors import CommandError, TuiMtlError
from tui_mtl.presets.numbers import parse_non_negative_int, parse_positive, parse_positive_int
from tui_mtl.strategies.catalog import canonical_name


class UsageError(TuiMtlError):
    """Bad input on the command line: one line, exit code 2."""


class Parser(argparse.ArgumentParser):
    """argparse, but a mistake is one line naming it (`tui-mtl: error: ...`, exit 2), not a usage dump."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


# --- types ------------------------------------------------------------------------------


def positive_int(text: str) -> int:
    try:
        return parse_positive_int(text, "value")
    except CommandError:
        raise argparse.ArgumentTypeError(f"must be a positive whole number, got {text!r}") from None


def positive_float(text: str) -> float:
    try:
        return parse_positive(text, "value")
    except CommandError:
        raise argparse.ArgumentTypeError(f"must be a number > 0, got {text!r}") from None


def non_negative_int(text: str) -> int:
    try:
        return parse_non_negative_int(text, "value")
    except CommandError:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 0, got {text!r}") from None


def seed(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value <= 2**32 - 1:  # Keras seeds numpy, which takes 0 .. 2**32-1
        raise argparse.ArgumentTypeError(f"must be between 0 and 2**32-1, got {text!r}")
    return value


def head_value(text: str) -> tuple[str, float]:
    """'head1=1e-3' -> ('head1', 0.001); which heads exist and which numbers fit is checked later."""
    head, sep, number = text.partition("=")
    head = head.strip()
    if not sep or not head or not number.strip():
        raise argparse.ArgumentTypeError(f"{text!r}: expected HEAD=VALUE, e.g. {head or 'head1'}=1e-3")
    try:
        value = float(number)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: {number!r} is not a number") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r}: the value must be finite")
    return head, value


def strategy_name(text: str) -> str:
    try:
        return canonical_name(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def strategy_list(text: str) -> list[str]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    if not names:
        raise argparse.ArgumentTypeError("name at least one strategy, e.g. summed,grouped")
    return [strategy_name(name) for name in names]


def vary_list(text: str) -> tuple[str, ...]:
    """'init,order' -> ('init', 'order'): what differs between the seeds of `compare --seeds`."""
    from tui_mtl.cli.seeds import VARY

    names = tuple(dict.fromkeys(name.strip() for name in text.split(",") if name.strip()))
    unknown = [name for name in names if name not in VARY]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"{text!r}: choose from {', '.join(VARY)} (comma-separated)")
    return names


# --- option groups ----------------------------------------------------------------------


MIRRORED = ("train on several devices at once: `all` or indices among the visible ones, e.g. 0,1 "
            "(tf.distribute.MirroredStrategy)")
PLACED = ("place the branches on several devices, one branch per device in turn: `all` or indices among the "
          "visible ones, e.g. 0,1 (the warm-up runs on the first visible device)")


def add_device_options(parser: argparse.ArgumentParser, devices_help: str = MIRRORED) -> None:
    group = parser.add_argument_group("devices")
    group.add_argument("--gpus", help="GPUs this session may see, e.g. 0,2 (default: all that "
                                      "CUDA_VISIBLE_DEVICES allows)")
    group.add_argument("--devices", help=devices_help)
    group.add_argument("--mixed-precision", choices=PRECISIONS,
                       help="compute in bfloat16 or float16 with float32 variables and outputs; fp16 "
                            "adds dynamic loss scaling (default off; resume: the run's own)")
    group.add_argument("--jit", action="store_true",
                       help="compile every step with XLA (training.jit_compile): often faster on a GPU, "
                            "slower on a CPU; the first step compiles longer")
    group.add_argument("--no-memory-growth", action="store_true",
                       help="let TensorFlow take all GPU memory up front (default: grow on demand, "
                            "so a shared box keeps its memory)")


def device_options(args: argparse.Namespace) -> DeviceOptions:
    try:
        return DeviceOptions(args.gpus, args.devices, args.mixed_precision, not args.no_memory_growth, args.jit)
    except ValueError as err:
        raise UsageError(f"--gpus/--devices: {err}") from None


def add_runs_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--runs-dir", metavar="DIR",
                        help="where run folders are (default: the user's state dir; TUI_MTL_RUNS_DIR overrides)")


def add_run_folder_options(parser: argparse.ArgumentParser) -> None:
    add_runs_dir(parser)
    parser.add_argument("--checkpoint-every", type=positive_int, metavar="N", help="also checkpoint every N steps")
    parser.add_argument("--no-record", action="store_true",
                        help="write no run folder (no metrics.csv, TensorBoard logs or checkpoint)")


def add_training_options(parser: argparse.ArgumentParser, *, steps_help: str) -> None:
    parser.add_argument("--steps", type=positive_int, help=steps_help)
    parser.add_argument("--seed", type=seed, help="data and initialisation seed (default: the preset's)")
    parser.add_argument("--metrics-out", metavar="FILE", help="write one row per report: .csv or .jsonl")
    parser.add_argument("--quiet", action="store_true", help="print only the final table")


def quiet_tensorflow_import() -> None:
    """Import TensorFlow and probe its devices with their native chatter (fd 2) sent to /dev/null."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 2)
            from tui_mtl.tf_import import import_tensorflow

            import_tensorflow().config.list_physical_devices()  # CUDA probing logs "failed call to cuInit" on CPU boxes
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def placement_options(args: argparse.Namespace) -> tuple[dict, list[str] | None]:
    """A comparison's Session keywords and the devices its branches go on (`--devices`: one branch
    per device in turn, not one model mirrored over them)."""
    options = device_options(args)
    quiet_tensorflow_import()
    try:
        return options.placement()
    except (ValueError, RuntimeError) as err:
        raise UsageError(f"--gpus/--devices: {err}") from None


def session_options(args: argparse.Namespace, mixed_precision: str | None = None) -> dict:
    """Configure the devices the arguments name and return the Session's device keywords."""
    options = device_options(args)
    quiet_tensorflow_import()
    try:
        return options.session_options(mixed_precision)
    except (ValueError, RuntimeError) as err:
        raise UsageError(f"--gpus/--devices: {err}") from None
