from tui_mtl.cli import entry

entry()
