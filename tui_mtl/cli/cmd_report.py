"""`tui-mtl report RUN`: (re)build a comparison's report from its run folder."""

from __future__ import annotations

import argparse
from pathlib import Path

from tui_mtl.cli import args as cli_args
from tui_mtl.cli.output import OK


def parser() -> argparse.ArgumentParser:
    p = cli_args.Parser(prog="tui-mtl report",
                        description="Build the report of a comparison (`compare`, or a fork in the app) or a sweep "
                                    "from its run folder: report.html (one file, no network) or, with --format md, "
                                    "report/report.md with PNG figures.")
    p.add_argument("run", help="a run folder, its name, or 'latest'")
    p.add_argument("--format", choices=("html", "md"), default="html", help="html (default) or md")
    cli_args.add_runs_dir(p)
    return p


def main(argv: list[str]) -> int:
    args = parser().parse_args(argv)
    from tui_mtl.report import read_report_data, write_html, write_markdown
    from tui_mtl.report.data import ReportError
    from tui_mtl.runs import find_run

    run_dir = find_run(args.run, Path(args.runs_dir).expanduser() if args.runs_dir else None)
    from tui_mtl.sweep.record import SWEEP_FILE

    if (run_dir / SWEEP_FILE).is_file():
        return _sweep(run_dir, args.format)
    try:
        data = read_report_data(run_dir)
    except ReportError as err:
        raise cli_args.UsageError(str(err)) from None
    path = write_html(data) if args.format == "html" else write_markdown(data)
    print(f"wrote {path}")
    return OK


def _sweep(run_dir: Path, format: str) -> int:
    from tui_mtl.report.sweep import SweepReportError, write_sweep_html, write_sweep_markdown

    try:
        path = write_sweep_html(run_dir) if format == "html" else write_sweep_markdown(run_dir)
    except SweepReportError as err:
        raise cli_args.UsageError(str(err)) from None
    print(f"wrote {path}")
    return OK
