"""`tui-mtl [PRESET]`: the terminal app (the picker, or straight to the dashboard)."""

from __future__ import annotations

import argparse
import functools
import sys
from pathlib import Path

from tui_mtl.cli import args as cli_args
from tui_mtl.cli.output import APP_UNAVAILABLE, OK
from tui_mtl.errors import PresetError
from tui_mtl.presets import find_preset_path, read_preset
from tui_mtl.presets.model_source import SourceKind, parse_model_source

SUBCOMMANDS = ("run", "compare", "resume", "export", "presets", "strategies", "sweep", "report", "watch", "serve")


def parser() -> argparse.ArgumentParser:
    p = cli_args.Parser(
        prog="tui-mtl",
        description="Train multi-head Keras networks live in the terminal. "
                    f"Subcommands: {', '.join(SUBCOMMANDS)} (tui-mtl SUBCOMMAND --help).")
    p.add_argument("preset", nargs="?", help="preset name or .toml path (default: open the picker)")
    p.add_argument("--fps", type=cli_args.positive_int, default=30,
                   help="cap on screen refreshes per second (default 30)")
    cli_args.add_runs_dir(p)
    p.add_argument("--factory", metavar="MODULE:FUNCTION",
                   help="open the Session this function returns (e.g. Session.from_model on your own model): "
                        "'package.module:make' from the current folder or the Python path, or 'file.py:make'")
    p.add_argument("--version", action="store_true", help="print the version and exit")
    cli_args.add_device_options(p)
    return p


def main(argv: list[str]) -> int:
    args = parser().parse_args(argv)
    if args.version:
        from tui_mtl import __version__

        print(f"tui-mtl {__version__}")
        return OK
    if args.preset and args.factory:
        raise PresetError("give a preset or --factory, not both (the factory's session has its own preset)")
    if args.factory:
        check_factory(args.factory)
    if args.preset:
        read_preset(find_preset_path(args.preset))  # a bad preset is refused before the UI starts
    devices = cli_args.device_options(args)  # checked here, without TensorFlow; the worker applies them
    try:
        from tui_mtl.ui.app import run_app
    except ImportError:
        print("tui-mtl: the terminal app is not available in this build; "
              "use `tui-mtl run PRESET` to train headless.", file=sys.stderr)
        return APP_UNAVAILABLE
    factory = None if args.factory is None else functools.partial(call_factory, args.factory)
    return run_app(args.preset, fps=args.fps, runs_dir=args.runs_dir, devices=devices, exit_process=True,
                   session_factory=factory)


def check_factory(text: str) -> None:
    try:
        source = parse_model_source(text)
    except ValueError:
        source = None
    if source is None or source.kind is not SourceKind.FUNCTION:
        raise PresetError(f"--factory: {text!r} is not a function: use 'package.module:make' or 'file.py:make'")


def call_factory(text: str):
    """The Session the user's function returns (imported from the current folder or the Python path)."""
    from tui_mtl.engine import Session
    from tui_mtl.user_code import call

    session = call(parse_model_source(text), {}, Path.cwd(), "--factory")
    if not isinstance(session, Session):
        raise PresetError(f"--factory: {text} returned {type(session).__name__}, not a tui_mtl Session "
                          f"(e.g. Session.from_model(model, heads, data))")
    return session
