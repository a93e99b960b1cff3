"""Seed-matched comparisons: every strategy of a seed starts from the same weights and sees the same
batches, so the honest test is on the per-seed differences (a paired t-test, scipy.stats.ttest_rel),
with the Benjamini-Hochberg correction across every head x pair tested (scipy.stats.
false_discovery_control). Losses are compared as log-ratios when every value is positive (a loss
halved is -50% whatever its scale, and an interval of ratios never passes -100%), as plain
differences otherwise. A seed on which either strategy diverged (a non-finite value) is left out of
that pair and counted."""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, replace

import numpy as np
from scipy import stats

CONFIDENCE = 0.95
ALPHA = 0.05  # the false discovery rate the verdict controls
CORRECTION = "Benjamini-Hochberg"

# strategy -> head -> one value per seed (NaN where the strategy diverged on that seed)
SeedResults = dict[str, dict[str, list[float]]]


@dataclass(frozen=True)
class Interval:
    mean: float
    low: float  # NaN with fewer than two finite values
    high: float
    n: int  # finite values
    diverged: int  # non-finite values left out


def mean_interval(values: list[float], confidence: float = CONFIDENCE) -> Interval:
    """The mean and its t-interval over the finite values."""
    array = np.asarray(values, dtype=float)
    finite = array[np.isfinite(array)]
    n, diverged = len(finite), len(array) - len(finite)
    if n == 0:
        return Interval(math.nan, math.nan, math.nan, 0, diverged)
    mean = float(finite.mean())
    if n < 2:
        return Interval(mean, math.nan, math.nan, n, diverged)
    sem = float(stats.sem(finite))
    if sem == 0.0:
        return Interval(mean, mean, mean, n, diverged)
    low, high = stats.t.interval(confidence, n - 1, loc=mean, scale=sem)
    return Interval(mean, float(low), float(high), n, diverged)


@dataclass(frozen=True)
class Difference:
    """`a` minus `b` on one head, seed by seed (negative: `a` has the lower loss)."""

    head: str
    a: str
    b: str
    mean: float  # mean of the paired differences (of logs when `ratio`)
    low: float  # its confidence interval
    high: float
    reference: float  # mean of `b` over the same seeds (for relative figures of plain differences)
    p: float  # two-sided paired t-test; 1.0 when every difference is 0, NaN with < 2 seeds
    p_adjusted: float  # after the correction across every head x pair
    a_lower: int  # seeds on which `a` was lower
    n: int  # seeds in the pair (both finite)
    left_out: int  # seeds on which either diverged
    ratio: bool = True  # differences of logs: exp(value) - 1 is `a` relative to `b`

    @property
    def significant(self) -> bool:
        return bool(self.p_adjusted < ALPHA)

    @property
    def identical(self) -> bool:
        return self.n > 0 and self.low == self.high == self.mean == 0.0

    def relative(self, value: float) -> float:
        """A difference as a fraction of `b` (-0.6: `a` is 60% lower)."""
        if self.ratio:
            return math.expm1(value)
        return value / self.reference if self.reference else math.nan


def _pair(head: str, a: str, b: str, xs: list[float], ys: list[float]) -> Difference:
    x, y = np.asarray(xs, dtype=float), np.asarray(ys, dtype=float)
    both = np.isfinite(x) & np.isfinite(y)
    x, y = x[both], y[both]
    n, left_out = int(both.sum()), int((~both).sum())
    reference = float(y.mean()) if n else math.nan
    lower = int((x < y).sum())
    ratio = bool(n and np.all(x > 0) and np.all(y > 0))
    if ratio:
        x, y = np.log(x), np.log(y)
    d = x - y
    if n and np.all(d == 0):  # the same numbers on every seed: no difference, exactly
        return Difference(head, a, b, 0.0, 0.0, 0.0, reference, 1.0, 1.0, 0, n, left_out, ratio)
    if n < 2:
        mean = float(d.mean()) if n else math.nan
        return Difference(head, a, b, mean, math.nan, math.nan, reference, math.nan, math.nan, lower, n,
                          left_out, ratio)
    test = stats.ttest_rel(x, y)
    ci = test.confidence_interval(CONFIDENCE)
    return Difference(head, a, b, float(d.mean()), float(ci.low), float(ci.high), reference, float(test.pvalue),
                      math.nan, lower, n, left_out, ratio)


def paired_differences(results: SeedResults, heads: list[str]) -> list[Difference]:
    """Every pair of strategies (in the order given) on every head, p-values corrected together."""
    pairs = [_pair(head, a, b, results[a][head], results[b][head])
             for head in heads for a, b in itertools.combinations(results, 2)]
    tested = [i for i, d in enumerate(pairs) if math.isfinite(d.p) and not d.identical]
    if tested:
        adjusted = stats.false_discovery_control([pairs[i].p for i in tested], method="bh")
        for i, p in zip(tested, adjusted):
            pairs[i] = _replace_p(pairs[i], float(p))
    return pairs


def _replace_p(d: Difference, p_adjusted: float) -> Difference:
    return replace(d, p_adjusted=p_adjusted)
