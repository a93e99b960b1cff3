"""The command line: one module per command, shared argument types and option groups in `args`,
the result tables in `tables`, progress and metrics files in `output`."""

from tui_mtl.cli.main import entry, main

__all__ = ["entry", "main"]
