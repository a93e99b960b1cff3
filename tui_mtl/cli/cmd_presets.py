"""`tui-mtl presets [list|show|check]`: list, show and check presets (no TensorFlow)."""

from __future__ import annotations

from pathlib import Path

import argparse

from tui_mtl.cli import args as cli_args
from tui_mtl.cli.output import OK
from tui_mtl.errors import PresetError, TuiMtlError
from tui_mtl.presets import check_fits, find_preset_path, origin_label, preset_files, read_preset, shipped_names


def parser() -> argparse.ArgumentParser:
    p = cli_args.Parser(prog="tui-mtl presets", description="List, show and check presets.")
    sub = p.add_subparsers(dest="action", parser_class=cli_args.Parser)
    sub.add_parser("list", help="one line per preset (the default)")
    show = sub.add_parser("show", help="print a preset's TOML")
    show.add_argument("preset")
    check = sub.add_parser("check", help="validate preset files: exit 0, or 2 with the first problem")
    check.add_argument("files", nargs="+")
    return p


def list_presets() -> int:
    shipped = shipped_names()
    rows = []
    for entry in preset_files():
        try:
            description = " ".join(read_preset(entry.path).description.split())  # one line per preset
        except TuiMtlError as err:
            description = f"INVALID: {err}"
        rows.append((entry.path.stem, origin_label(entry.origin, entry.path.stem, shipped), description))
    width = max((len(name) for name, _o, _d in rows), default=4)
    origin_width = max((len(origin) for _n, origin, _d in rows), default=7)
    for name, origin, description in rows:
        print(f"{name:<{width}}  {origin:<{origin_width}}  {description}".rstrip())
    return OK


def check(files: list[str]) -> int:
    """Everything knowable without training: the schema, strategy parameters, data files, sizes."""
    for file in files:
        preset = read_preset(file)
        try:
            check_fits(preset)
        except ValueError as err:
            raise PresetError(f"{file}: {err}") from None
        built = ""
        if preset.model.imported:
            built = f", {_check_own_model(preset, Path(file).parent, file)}"
        print(f"{file}: ok ({preset.name}: {len(preset.model.heads)} heads, strategy {preset.strategy.name}{built})")
    return OK


def _check_own_model(preset, base_dir: Path, file: str) -> str:
    """Load or build a `from` model and match it to the heads (TensorFlow is needed for this one)."""
    from tui_mtl.model import build_model

    try:
        net = build_model(preset.model, seed=preset.data.seed, base_dir=base_dir)
    except PresetError as err:
        raise PresetError(f"{file}: {err}") from None
    count = sum(int(v.numpy().size) for v in net.trunk_variables)
    return f"own model {net.model.count_params():,} parameters, trunk {count:,}"


def main(argv: list[str]) -> int:
    args = parser().parse_args(argv)
    if args.action in (None, "list"):
        return list_presets()
    if args.action == "show":
        path = find_preset_path(args.preset)
        read_preset(path)  # refuse to show an invalid file as if it were fine
        print(path.read_text(encoding="utf-8"), end="")
        return OK
    return check(args.files)
