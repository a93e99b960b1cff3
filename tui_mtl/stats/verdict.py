"""The verdict in words, one line per head and pair."""

from __future__ import annotations

import math

from tui_mtl.stats.paired import ALPHA, CONFIDENCE, CORRECTION, Difference


def _percent(value: float) -> str:
    if not math.isfinite(value):
        return "?"
    return f"{value * 100:+.1f}%" if abs(value) < 0.1 else f"{value * 100:+.0f}%"


def _span(d: Difference, sign: float) -> str:
    """The interval of `sign` x the difference, as percentages, low to high."""
    low, high = sorted(d.relative(sign * v) for v in (d.low, d.high))
    return f"{_percent(low)}..{_percent(high)}"


def verdict_line(d: Difference, metric: str = "val loss") -> str:
    if d.n == 0:
        return f"{d.head}: {d.a} vs {d.b}: no seed where both stayed finite"
    left_out = f"; {d.left_out} seed(s) left out, a branch diverged" if d.left_out else ""
    if d.identical:
        return f"{d.head}: no difference between {d.a} and {d.b} (identical on all {d.n} seeds){left_out}"
    if d.n < 2:
        return f"{d.head}: {d.a} vs {d.b}: one seed, no test (use --seeds 5; 3 at the least){left_out}"
    level = f"{CONFIDENCE:.0%} CI"
    if not d.significant:
        why = "CI includes 0" if d.low <= 0.0 <= d.high else f"not significant after the {CORRECTION} correction"
        return (f"{d.head}: no detectable difference between {d.a} and {d.b} ({d.a} {_percent(d.relative(d.mean))} "
                f"{metric} vs {d.b}, {level} {_span(d, 1.0)}, {why}; p = {d.p_adjusted:.2g}){left_out}")
    a_wins = d.mean < 0
    winner, loser = (d.a, d.b) if a_wins else (d.b, d.a)
    wins = d.a_lower if a_wins else d.n - d.a_lower
    sign = 1.0 if a_wins else -1.0  # winner relative to loser
    if not d.ratio:  # plain differences are relative to the loser's mean
        d_loser = d if a_wins else _flipped(d)
        return (f"{d.head}: {winner} beats {loser} ({_percent(d_loser.relative(d_loser.mean))} {metric}, {level} "
                f"{_span(d_loser, 1.0)}, lower on {wins}/{d.n} seeds, p = {d.p_adjusted:.2g}){left_out}")
    return (f"{d.head}: {winner} beats {loser} ({_percent(d.relative(sign * d.mean))} {metric}, {level} "
            f"{_span(d, sign)}, lower on {wins}/{d.n} seeds, p = {d.p_adjusted:.2g}){left_out}")


def _flipped(d: Difference) -> Difference:
    """b minus a, relative to a's mean (plain differences)."""
    from dataclasses import replace

    return replace(d, a=d.b, b=d.a, mean=-d.mean, low=-d.high, high=-d.low, reference=d.reference + d.mean,
                   a_lower=d.n - d.a_lower)


def verdict_lines(differences: list[Difference], metric: str = "val loss",
                  measured: str = "final validation loss") -> list[str]:
    """A line per difference, then how they were tested; `measured`: what each seed's value is."""
    lines = [verdict_line(d, metric) for d in differences]
    tested = sum(1 for d in differences if math.isfinite(d.p_adjusted) and not d.identical)
    if tested:
        scale = "log-ratios" if all(d.ratio for d in differences) else "differences (log-ratios where positive)"
        lines.append(f"(paired t-tests on the seed-matched {scale} of the {measured}; p-values "
                     f"{CORRECTION}-adjusted over {tested} head x pair tests, significant below {ALPHA:g})")
    return lines
