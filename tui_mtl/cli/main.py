"""`tui-mtl`: the terminal app by default; subcommands train headless, compare, resume, export, list.

Bad input exits with code 2 and one line naming the problem; no traceback.
"""

from __future__ import annotations

import contextlib
import os
import sys

from tui_mtl.cli import (cmd_compare, cmd_export, cmd_presets, cmd_report, cmd_resume, cmd_run, cmd_serve,
                         cmd_strategies, cmd_sweep, cmd_ui, cmd_watch)
from tui_mtl.cli.output import USAGE
from tui_mtl.errors import TuiMtlError

COMMANDS = {"run": cmd_run.main, "compare": cmd_compare.main, "resume": cmd_resume.main, "export": cmd_export.main,
            "presets": cmd_presets.main, "strategies": cmd_strategies.main, "serve": cmd_serve.main,
            "sweep": cmd_sweep.main, "report": cmd_report.main, "watch": cmd_watch.main}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        if argv and argv[0] in COMMANDS:
            return COMMANDS[argv[0]](argv[1:])
        return cmd_ui.main(argv)
    except TuiMtlError as err:
        print(f"tui-mtl: error: {err}", file=sys.stderr)
        return USAGE
    except BrokenPipeError:  # e.g. `tui-mtl presets | head`
        with contextlib.suppress(OSError):
            sys.stdout.close()
        return 0


def entry() -> None:
    """The console script: `main()`, then, once TensorFlow is loaded, an immediate exit. Everything
    is saved and flushed by then, and TensorFlow's interpreter teardown would add ~1 s to a SIGTERM
    or a finished run."""
    code = main()
    if "tensorflow" in sys.modules:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(OSError, ValueError):  # ValueError: closed by a broken pipe
                stream.flush()
        os._exit(code)
    raise SystemExit(code)
