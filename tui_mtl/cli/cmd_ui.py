"""`tui-mtl [PRESET]`: the terminal app (the picker, or straight to the dashboard)."""

from __future__ import annotations

import argparse
import sys

from tui_mtl.cli import args as cli_args
from tui_mtl.cli.output import APP_UNAVAILABLE, OK
from tui_mtl.presets import find_preset_path, read_preset

SUBCOMMANDS = ("run", "compare", "resume", "export", "presets", "strategies", "serve")


def parser() -> argparse.ArgumentParser:
    p = cli_args.Parser(
        prog="tui-mtl",
        description="Train multi-head Keras networks live in the terminal. "
                    f"Subcommands: {', '.join(SUBCOMMANDS)} (tui-mtl SUBCOMMAND --help).")
    p.add_argument("preset", nargs="?", help="preset name or .toml path (default: open the picker)")
    p.add_argument("--fps", type=cli_args.positive_int, default=30,
                   help="cap on screen refreshes per second (default 30)")
    cli_args.add_runs_dir(p)
    p.add_argument("--version", action="store_true", help="print the version and exit")
    cli_args.add_device_options(p)
    return p


def main(argv: list[str]) -> int:
    args = parser().parse_args(argv)
    if args.version:
        from tui_mtl import __version__

        print(f"tui-mtl {__version__}")
        return OK
    if args.preset:
        read_preset(find_preset_path(args.preset))  # a bad preset is refused before the UI starts
    devices = cli_args.device_options(args)  # checked here, without TensorFlow; the worker applies them
    try:
        from tui_mtl.ui.app import run_app
    except ImportError:
        print("tui-mtl: the terminal app is not available in this build; "
              "use `tui-mtl run PRESET` to train headless.", file=sys.stderr)
        return APP_UNAVAILABLE
    return run_app(args.preset, fps=args.fps, runs_dir=args.runs_dir, devices=devices, exit_process=True)
