"""report.md with PNG figures beside it (for a README or an issue)."""

from __future__ import annotations

from pathlib import Path

from tui_mtl.fileio import atomic_write_text
from tui_mtl.report.data import ReportData
from tui_mtl.report.plots import curves_figure, differences_figure, png
from tui_mtl.report.tables import one_seed_hint, summary_rows
from tui_mtl.stats import verdict_lines


def markdown_table(rows: list[list[str]]) -> str:
    """A GitHub table; a `|` inside a cell (an error's text) is escaped so it stays one cell."""
    def line(row: list[str]) -> str:
        return "| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |"

    return "\n".join([line(rows[0]), "|" + " --- |" * len(rows[0]), *(line(row) for row in rows[1:])])


def write_markdown(data: ReportData, folder: Path | None = None) -> Path:
    folder = folder or data.run_dir / "report"
    folder.mkdir(parents=True, exist_ok=True)
    lines = [f"# {', '.join(data.strategies)} {data.seeds_text()}", "",
             f"{data.note} Within a seed every strategy starts from the same weights and sees the same batches."
             f"{one_seed_hint(data)}".strip(), "",
             "## Verdict", "", *(f"- {line}" for line in verdict_lines(data.differences, measured=data.metric)), "",
             f"## {data.metric.capitalize()}", "", markdown_table(summary_rows(data)), ""]
    for i, head in enumerate(data.heads):
        png(curves_figure(data, head), folder / f"{i}-curves.png")
        png(differences_figure(data, head), folder / f"{i}-differences.png")
        lines += [f"## {head}", "", f"![{head}: validation loss]({i}-curves.png)", "",
                  f"![{head}: paired differences]({i}-differences.png)", ""]
    if data.command:
        lines += ["## Reproduce", "", "```", data.command, "```", ""]
    path = folder / "report.md"
    atomic_write_text(path, "\n".join(lines))
    return path
