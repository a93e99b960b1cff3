"""A sweep's report.html, from its sweep.json: the trials sorted by objective (the best, or the
Pareto front, in bold), the objective trial by trial with the best so far, each searched setting
against the objective, and for a Pareto sweep every pair of heads with the front marked."""

from __future__ import annotations

import itertools
import json
import math
from html import escape
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from tui_mtl.fileio import atomic_write_text  # noqa: E402
from tui_mtl.report.html import STYLE, table  # noqa: E402
from tui_mtl.report.plots import png, svg  # noqa: E402
from tui_mtl.sweep.record import SWEEP_FILE  # noqa: E402


class SweepReportError(ValueError):
    """No sweep.json, or one this version cannot read."""


def read_sweep(run_dir: Path) -> dict:
    path = run_dir / SWEEP_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        data["trials"], data["names"], data["heads"]  # noqa: B018 — the keys every report needs
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise SweepReportError(f"{path}: not a sweep this version can read ({err})") from None
    return data


def _fmt(value) -> str:
    return f"{value:.4g}" if isinstance(value, (int, float)) and math.isfinite(value) else "-"


def _outcome(trial: dict) -> str:
    if trial["state"] == "PRUNED":
        steps = [int(s) for s in trial["intermediate"]]
        return f"pruned at step {max(steps)}" if steps else "pruned"
    if trial["state"] == "FAIL":
        return f"failed: {trial['diverged'] or 'see the storage'}"
    return "complete"


def _sorted(data: dict) -> list[dict]:
    """Complete trials by objective (sum over heads for a Pareto sweep), then pruned, then failed."""
    order = {"COMPLETE": 0, "PRUNED": 1, "FAIL": 2}

    def key(t: dict) -> tuple:
        total = sum(math.inf if v is None else v for v in t["values"]) if t["values"] else math.inf
        return order.get(t["state"], 3), total, t["number"]
    return sorted(data["trials"], key=key)


def trials_rows(data: dict) -> tuple[list[list[str]], list[bool]]:
    """The table, and which rows are the best (or on the front)."""
    pareto = bool(data.get("pareto"))
    columns = data["heads"] if pareto else ["objective"]
    rows = [["trial", *(n.replace(":", " ") for n in data["names"]), *columns, "outcome"]]
    marked = []
    for t in _sorted(data):
        values = t["values"] or [None] * len(columns)
        rows.append([str(t["number"]), *(_fmt(t["params"].get(n)) for n in data["names"]),
                     *(_fmt(v) for v in values), _outcome(t)])
        marked.append(t["number"] in data.get("front", []))
    return rows, marked


def _progress_figure(data: dict):
    fig, ax = plt.subplots(figsize=(6.4, 3.2), dpi=100)
    done = sorted((t["number"], t["values"][0]) for t in data["trials"] if t["values"] and t["values"][0] is not None)
    pruned = [(t["number"], t["intermediate"][max(t["intermediate"], key=int)]) for t in data["trials"]
              if t["state"] == "PRUNED" and t["intermediate"]]
    if done:
        ax.plot(*zip(*done), "o", label="complete")
        best, line = math.inf, []
        for number, value in done:
            best = min(best, value)
            line.append((number, best))
        ax.step(*zip(*line), where="post", color="black", linewidth=1, label="best so far")
    if pruned:
        ax.plot(*zip(*[p for p in pruned if p[1] is not None]), "x", color="gray", label="pruned (last value)")
    _log_if_wide(ax, [v for _, v in done], "y")
    ax.set_xlabel("trial")
    ax.set_title(f"objective: {data.get('objective', '')}", fontsize=10)
    ax.grid(alpha=0.3)
    if ax.lines:
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def _settings_figure(data: dict):
    """Each searched setting (log scale) against the objective (pareto: the sum over heads)."""
    names = data["names"]
    fig, axes = plt.subplots(1, len(names), figsize=(3.2 * len(names), 3.0), dpi=100, squeeze=False)
    for ax, name in zip(axes[0], names):
        for state, mark, color in (("COMPLETE", "o", None), ("PRUNED", "x", "gray")):
            points = [(t["params"][name], _score(t)) for t in data["trials"]
                      if t["state"] == state and name in t["params"] and _score(t) is not None]
            if points:
                ax.plot(*zip(*points), mark, color=color, label=state.lower())
        ax.set_xscale("log")
        _log_if_wide(ax, [y for line in ax.lines for y in line.get_ydata()], "y")
        ax.set_xlabel(name.replace(":", " "))
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("sum of heads' val loss" if data.get("pareto") else "objective")
    fig.tight_layout()
    return fig


def _log_if_wide(ax, values: list, axis: str) -> None:
    """A log axis when positive values span more than a factor of 10 (losses of different scales)."""
    if values and min(values) > 0 and max(values) / min(values) > 10:
        (ax.set_xscale if axis == "x" else ax.set_yscale)("log")


def _score(trial: dict) -> float | None:
    if trial["values"] and all(v is not None for v in trial["values"]):
        return float(sum(trial["values"]))
    if trial["intermediate"]:
        return trial["intermediate"][max(trial["intermediate"], key=int)]
    return None


def _front_figure(data: dict):
    heads, front = data["heads"], set(data.get("front", []))
    pairs = list(itertools.combinations(range(len(heads)), 2))
    fig, axes = plt.subplots(1, len(pairs), figsize=(3.4 * len(pairs), 3.2), dpi=100, squeeze=False)
    done = [t for t in data["trials"] if t["values"] and all(v is not None for v in t["values"])]
    for ax, (i, j) in zip(axes[0], pairs):
        rest = [(t["values"][i], t["values"][j]) for t in done if t["number"] not in front]
        best = [(t["values"][i], t["values"][j]) for t in done if t["number"] in front]
        if rest:
            ax.plot(*zip(*rest), "o", color="tab:gray", alpha=0.6, label="dominated")
        if best:
            ax.plot(*zip(*best), "o", color="tab:red", label="Pareto front")
        _log_if_wide(ax, [p[0] for p in rest + best], "x")
        _log_if_wide(ax, [p[1] for p in rest + best], "y")
        ax.set_xlabel(f"{heads[i]} val loss")
        ax.set_ylabel(f"{heads[j]} val loss")
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=8)
    fig.tight_layout()
    return fig


def _intro(data: dict) -> str:
    counts = {s: sum(t["state"] == s for t in data["trials"]) for s in ("COMPLETE", "PRUNED", "FAIL")}
    best = "the Pareto front (no other trial is lower on every head)" if data.get("pareto") else "the best trial"
    return (f"{data.get('strategy', '')}, {data.get('steps', '')} steps per trial, study {data.get('study', '')}; "
            f"minimising {data.get('objective', '')}. {len(data['trials'])} trials: {counts['COMPLETE']} complete, "
            f"{counts['PRUNED']} pruned, {counts['FAIL']} failed. In bold: {best}.")


def _title(data: dict) -> str:
    return "Sweep of " + ", ".join(n.replace(":", " ") for n in data["names"])


def _figures(data: dict) -> list[tuple[str, object]]:
    """(title, matplotlib figure) in the report's order; none before a trial has a number."""
    if not (any(t["values"] for t in data["trials"]) or any(t["intermediate"] for t in data["trials"])):
        return []
    if data.get("pareto") and len(data["heads"]) > 1:
        first = ("Pareto front", _front_figure(data))
    else:
        first = ("Objective", _progress_figure(data))
    return [first, ("Settings", _settings_figure(data))]


def render_sweep_html(data: dict, run_dir: Path) -> str:
    rows, marked = trials_rows(data)
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>tui-mtl: {escape(run_dir.name)}</title>",
             f"<style>{STYLE}</style></head><body>", f"<h1>{escape(_title(data))}</h1>",
             f"<p>Run folder <code>{escape(str(run_dir))}</code>. {escape(_intro(data))}</p>",
             "<h2>Trials</h2>", table(rows, bold=marked)]
    parts += [f"<h2>{title}</h2><figure>{svg(fig)}</figure>" for title, fig in _figures(data)]
    if data.get("command"):
        parts.append(f"<h2>Reproduce</h2><pre>{escape(data['command'])}</pre>")
    parts.append("</body></html>")
    return "\n".join(parts)


def write_sweep_html(run_dir: Path) -> Path:
    path = run_dir / "report.html"
    atomic_write_text(path, render_sweep_html(read_sweep(run_dir), run_dir))
    return path


def write_sweep_markdown(run_dir: Path) -> Path:
    """report/report.md with a PNG per figure, for a README or an issue."""
    from tui_mtl.report.markdown import markdown_table

    data = read_sweep(run_dir)
    folder = run_dir / "report"
    folder.mkdir(parents=True, exist_ok=True)
    rows, marked = trials_rows(data)
    rows = [rows[0], *([f"**{c}**" for c in row] if bold else row for row, bold in zip(rows[1:], marked))]
    lines = [f"# {_title(data)}", "", f"Run folder `{run_dir}`. {_intro(data)}", "", "## Trials", "",
             markdown_table(rows), ""]
    for i, (title, fig) in enumerate(_figures(data)):
        name = f"{i}-{title.lower().replace(' ', '-')}.png"
        png(fig, folder / name)
        lines += [f"## {title}", "", f"![{title}]({name})", ""]
    if data.get("command"):
        lines += ["## Reproduce", "", "```", data["command"], "```", ""]
    path = folder / "report.md"
    atomic_write_text(path, "\n".join(lines))
    return path
