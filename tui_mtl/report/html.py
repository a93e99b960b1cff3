"""report.html: one file, no network (figures inlined as SVG, no scripts, no web fonts)."""

from __future__ import annotations

from html import escape
from pathlib import Path

from tui_mtl.fileio import atomic_write_text
from tui_mtl.report.data import ReportData
from tui_mtl.report.plots import curves_figure, differences_figure, svg
from tui_mtl.report.tables import one_seed_hint, summary_rows
from tui_mtl.stats import verdict_lines

STYLE = """body{font-family:system-ui,sans-serif;max-width:60em;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:.25em .6em;text-align:left}
th{background:#f3f3f3}pre{background:#f6f6f6;padding:.8em;overflow-x:auto}li.win,tr.win{font-weight:600}
figure{margin:1em 0}svg{max-width:100%;height:auto}"""


def table(rows: list[list[str]], bold: list[bool] | None = None) -> str:
    """The first row is the header; `bold[i]`: body row i stands out (the best)."""
    head = "".join(f"<th>{escape(c)}</th>" for c in rows[0])
    marks = bold or [False] * (len(rows) - 1)
    body = "".join(("<tr class='win'>" if mark else "<tr>") + "".join(f"<td>{escape(c)}</td>" for c in row)
                   + "</tr>" for row, mark in zip(rows[1:], marks))
    return f"<table><tr>{head}</tr>{body}</table>"


def render_html(data: ReportData) -> str:
    verdicts = verdict_lines(data.differences, measured=data.metric)
    items = "".join(f'<li class="{"win" if " beats " in line else ""}">{escape(line)}</li>' for line in verdicts)
    title = f"tui-mtl: {escape(data.run_dir.name)}"
    note = f"{data.note} " if data.note else ""
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{title}</title>",
             f"<style>{STYLE}</style></head><body>",
             f"<h1>{escape(', '.join(data.strategies))} {escape(data.seeds_text())}</h1>",
             f"<p>Run folder <code>{escape(str(data.run_dir))}</code>. {escape(note)}Within a seed every "
             f"strategy starts from the same weights and sees the same batches.{escape(one_seed_hint(data))}</p>",
             f"<h2>Verdict</h2><ul>{items}</ul>",
             f"<h2>{escape(data.metric.capitalize())}</h2>", table(summary_rows(data))]
    for head in data.heads:
        parts.append(f"<h2>{escape(head)}</h2>")
        parts.append(f"<figure>{svg(curves_figure(data, head))}</figure>")
        parts.append(f"<figure>{svg(differences_figure(data, head))}</figure>")
    if data.command:
        parts.append(f"<h2>Reproduce</h2><pre>{escape(data.command)}</pre>")
    if data.preset_toml:
        parts.append(f"<h2>Settings</h2><pre>{escape(data.preset_toml)}</pre>")
    parts.append("</body></html>")
    return "\n".join(parts)


def write_html(data: ReportData, path: Path | None = None) -> Path:
    path = path or data.run_dir / "report.html"
    atomic_write_text(path, render_html(data))
    return path
