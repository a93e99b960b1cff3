"""The report's figures (matplotlib, no display): per head, validation loss against steps with a
band over seeds per strategy; the paired differences with their intervals."""

from __future__ import annotations

import io
import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from scipy import stats  # noqa: E402

from tui_mtl.report.data import ReportData  # noqa: E402
from tui_mtl.stats.paired import CONFIDENCE  # noqa: E402


def _aligned(per_seed: dict) -> tuple[np.ndarray, np.ndarray]:
    """Steps every seed has, and the [seeds, steps] losses there."""
    series = [dict(zip(steps, values)) for steps, values in per_seed.values() if steps]
    if not series:
        return np.array([]), np.empty((0, 0))
    common = sorted(set.intersection(*(set(s) for s in series)))
    return np.array(common), np.array([[s[step] for step in common] for s in series])


def curves_figure(data: ReportData, head: str):
    """Positive losses are averaged as the verdict compares them, on a log scale: the geometric mean
    over seeds and its t-interval, so a band never crosses zero."""
    fig, ax = plt.subplots(figsize=(6.4, 3.6), dpi=100)
    shown = []
    for strategy in data.strategies:
        steps, losses = _aligned(data.curves[strategy][head])
        if not len(steps) or not np.all(np.isfinite(losses)):
            continue
        positive = bool(np.all(losses > 0))
        values = np.log(losses) if positive else losses
        centre = values.mean(axis=0)
        back = np.exp if positive else (lambda v: v)
        line = ax.plot(steps, back(centre), label=strategy, linewidth=1.6, marker="." if len(steps) < 20 else None)[0]
        if len(values) > 1:
            half = stats.sem(values, axis=0) * stats.t.ppf(0.5 + CONFIDENCE / 2, len(values) - 1)
            ax.fill_between(steps, back(centre - half), back(centre + half), color=line.get_color(), alpha=0.2,
                            linewidth=0)
        shown.append(losses)
    if shown and all(np.all(s > 0) for s in shown):
        low, high = min(float(s.min()) for s in shown), max(float(s.max()) for s in shown)
        if high / low > 10:
            ax.set_yscale("log")
    average = "geometric mean" if shown and all(np.all(s > 0) for s in shown) else "mean"
    over = (f"{average} over {len(data.seeds)} seeds, {CONFIDENCE:.0%} band" if len(data.seeds) > 1
            else f"one seed, {data.seeds[0]}")
    ax.set_title(f"{head}: validation loss ({over})", fontsize=10)
    ax.set_xlabel("step")
    ax.grid(alpha=0.3)
    if ax.lines:
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def differences_figure(data: ReportData, head: str):
    pairs = [d for d in data.differences if d.head == head]
    fig, ax = plt.subplots(figsize=(6.4, 0.6 + 0.45 * max(len(pairs), 1)), dpi=100)
    for y, d in enumerate(pairs):
        mean = d.relative(d.mean) * 100
        low, high = sorted((d.relative(d.low) * 100, d.relative(d.high) * 100))
        color = "tab:red" if d.significant else "tab:gray"
        if math.isfinite(low) and math.isfinite(high):
            ax.errorbar([mean], [y], xerr=[[mean - low], [high - mean]], fmt="o", color=color, capsize=3)
        elif math.isfinite(mean):
            ax.plot([mean], [y], "o", color=color)
    ax.axvline(0, color="black", linewidth=0.8)
    ax.set_yticks(range(len(pairs)), [f"{d.a} vs {d.b}" for d in pairs], fontsize=8)
    ax.set_ylim(-0.6, len(pairs) - 0.4)
    ax.set_xlabel(f"{head}: first relative to second, val loss % ({CONFIDENCE:.0%} CI; red: significant)", fontsize=8)
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    return fig


def svg(fig) -> str:
    """Inline SVG, the same bytes for the same figure (no date, fixed element ids): a rebuilt report
    differs from the first only where its numbers do."""
    buffer = io.StringIO()
    with matplotlib.rc_context({"svg.hashsalt": "tui-mtl"}):
        fig.savefig(buffer, format="svg", metadata={"Date": None})
    plt.close(fig)
    text = buffer.getvalue()
    return text[text.index("<svg"):]  # inline: without the XML prolog


def png(fig, path) -> None:
    fig.savefig(path, format="png")
    plt.close(fig)
