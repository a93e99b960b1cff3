"""`tui-mtl serve [PRESET]`: the app in a web browser (textual-serve), a session per tab."""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from tui_mtl.cli import args as cli_args
from tui_mtl.cli.output import OK
from tui_mtl.presets import find_preset_path, read_preset


def parser() -> argparse.ArgumentParser:
    p = cli_args.Parser(
        prog="tui-mtl serve",
        description="Serve the app in a web browser (textual-serve). Each browser tab runs its own session: "
                    "its own process, model and training, which ends when the tab closes.")
    p.add_argument("preset", nargs="?", help="preset name or .toml path (default: open the picker)")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default 127.0.0.1: this machine only; 0.0.0.0: every interface)")
    p.add_argument("--port", type=int, default=8000, help="port to listen on (default 8000)")
    p.add_argument("--public-url", metavar="URL",
                   help="the address browsers use (default http://HOST:PORT); set it behind a proxy or "
                        "an SSH tunnel, or when HOST is 0.0.0.0")
    p.add_argument("--fps", type=cli_args.positive_int, default=30,
                   help="cap on screen refreshes per second (default 30)")
    cli_args.add_runs_dir(p)
    return p


def serve_command(args: argparse.Namespace) -> str:
    """The shell command textual-serve runs for each browser tab: this Python, this package, the app."""
    parts = [sys.executable, "-m", "tui_mtl"]
    if args.preset:
        path = find_preset_path(args.preset)
        read_preset(path)  # a bad preset is refused before the server starts
        parts.append(str(path.resolve()))  # the tab's process may start elsewhere: pass the file itself
    parts += ["--fps", str(args.fps)]
    if args.runs_dir:
        parts += ["--runs-dir", str(Path(args.runs_dir).expanduser().resolve())]
    return shlex.join(parts)


def main(argv: list[str]) -> int:
    args = parser().parse_args(argv)
    if not 0 < args.port < 65536:
        raise cli_args.UsageError(f"--port must be between 1 and 65535, got {args.port}")
    command = serve_command(args)
    try:
        from textual_serve.server import Server
    except ImportError:
        raise cli_args.UsageError("tui-mtl serve needs textual-serve: pip install 'tui-mtl[serve]' "
                                  "(or pip install textual-serve)") from None
    server = Server(command, host=args.host, port=args.port, title="tui-mtl", public_url=args.public_url)
    print(f"tui-mtl: serving on {server.public_url} (each browser tab runs its own session; ctrl+c stops)",
          flush=True)
    server.serve()
    return OK
