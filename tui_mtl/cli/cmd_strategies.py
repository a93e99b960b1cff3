"""`tui-mtl strategies`: every layout, aggregator and weighting, what it does, its parameters."""

from __future__ import annotations

import argparse

from tui_mtl.cli import args as cli_args
from tui_mtl.cli.output import OK
from tui_mtl.strategies.catalog import CATALOG, all_strategies, parse_strategy


def parser() -> argparse.ArgumentParser:
    p = cli_args.Parser(prog="tui-mtl strategies",
                        description="List every strategy component (AGGREGATOR@LAYOUT+WEIGHTING), or describe one "
                                    "strategy.")
    p.add_argument("name", nargs="?", type=cli_args.strategy_name, help="a strategy to describe, e.g. pcgrad@grouped")
    p.add_argument("--all", action="store_true", help="list every valid combination")
    return p


def params_text(component) -> str:
    defaults = component.defaults
    return ", ".join(f"{key}={value!r}" for key, value in defaults.items()) or "no parameters"


def main(argv: list[str]) -> int:
    args = parser().parse_args(argv)
    if args.name:
        parsed = parse_strategy(args.name)
        print(f"{parsed.canonical} = {parsed.aggregator}@{parsed.layout}+{parsed.weighting}")
        print(parsed.describe())
        for kind, component in parsed.components().items():
            print(f"  [strategy.{kind.value}] {component.name}: {params_text(component)}")
        return OK
    if args.all:
        print("\n".join(all_strategies()))
        return OK
    print("A strategy is AGGREGATOR@LAYOUT+WEIGHTING: `summed` = sum@summed, `pcgrad@grouped`, "
          "`grouped+dwa`. Parameters go in [strategy.layout], [strategy.aggregator], [strategy.weighting].")
    for kind, table in CATALOG.items():
        print(f"\n{kind.value}s:")
        width = max(len(name) for name in table)
        for name, component in table.items():
            reference = f" ({component.reference})" if component.reference else ""
            print(f"  {name:<{width}}  {component.summary}{reference}")
            print(f"  {'':<{width}}  {params_text(component)}")
    return OK
