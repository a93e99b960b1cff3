"""The statistics of `compare --seeds` on synthetic per-seed numbers with known answers."""

import math

import numpy as np
import pytest
from scipy import stats

from tui_mtl.stats import mean_interval, paired_differences, verdict_lines

RNG = np.random.default_rng(7)


def test_identical_strategies_are_no_difference_on_every_head():
    values = RNG.uniform(0.5, 1.5, size=5).tolist()
    results = {"summed": {"x": values, "y": values[::-1]}, "summed-2": {"x": values, "y": values[::-1]}}
    differences = paired_differences(results, ["x", "y"])
    assert all(d.identical and not d.significant and d.p_adjusted == 1.0 for d in differences)
    assert all("no difference" in line for line in verdict_lines(differences))


def test_a_consistent_shift_is_detected_with_its_size_and_a_noise_only_head_is_not():
    base = RNG.uniform(1.0, 2.0, size=6)
    results = {"summed": {"x": base.tolist(), "noise": base.tolist()},
               "grouped": {"x": (base * 0.4 * RNG.uniform(0.95, 1.05, 6)).tolist(),
                           "noise": (base * RNG.uniform(0.8, 1.25, 6)).tolist()}}
    x, noise = paired_differences(results, ["x", "noise"])
    assert x.significant and x.mean > 0 and x.a_lower == 0  # summed - grouped > 0: grouped lower on every seed
    assert x.relative(-x.mean) == pytest.approx(-0.6, abs=0.05)  # grouped is ~60% lower
    low, high = sorted(x.relative(-v) for v in (x.low, x.high))
    assert -1 < low < -0.6 < high < 0  # a ratio's interval never passes -100%
    assert not noise.significant
    line_x, line_noise, footnote = verdict_lines([x, noise])
    assert line_x.startswith("x: grouped beats summed (-6") and "lower on 6/6 seeds" in line_x
    assert line_noise.startswith("noise: no detectable difference")
    assert "Benjamini-Hochberg" in footnote


def test_the_p_values_are_scipys_paired_test_then_benjamini_hochberg():
    results = {s: {h: RNG.uniform(1, 2, 5).tolist() for h in "abc"} for s in ("p", "q", "r")}
    differences = paired_differences(results, list("abc"))
    raw = [stats.ttest_rel(np.log(results[d.a][d.head]), np.log(results[d.b][d.head])).pvalue for d in differences]
    assert [d.p for d in differences] == pytest.approx(raw)
    assert [d.p_adjusted for d in differences] == pytest.approx(stats.false_discovery_control(raw, method="bh"))
    assert len(differences) == 9  # 3 heads x 3 pairs, corrected together


def test_the_correction_can_take_a_difference_back():
    """p = 0.03 alone is significant; among many null tests it is not."""
    base = np.array([1.0, 1.2, 0.9, 1.1, 1.05])
    shifted = base * np.array([0.93, 0.95, 0.97, 0.9, 0.96])  # a small, consistent effect
    alone = paired_differences({"a": {"x": shifted.tolist()}, "b": {"x": base.tolist()}}, ["x"])[0]
    assert alone.p < 0.05 and alone.significant
    heads = ["x"] + [f"h{i}" for i in range(12)]
    results = {"a": {"x": shifted.tolist()}, "b": {"x": base.tolist()}}
    for h in heads[1:]:
        noise = RNG.uniform(0.5, 1.5, 5)
        results["a"][h], results["b"][h] = (noise * RNG.uniform(0.7, 1.4, 5)).tolist(), noise.tolist()
    among = next(d for d in paired_differences(results, heads) if d.head == "x")
    assert among.p == pytest.approx(alone.p) and among.p_adjusted > among.p


def test_a_diverged_seed_is_left_out_of_its_pairs_and_named():
    results = {"a": {"x": [1.0, 1.1, math.nan, 0.9]}, "b": {"x": [2.0, 2.3, 1.9, 2.1]}}
    (d,) = paired_differences(results, ["x"])
    assert d.n == 3 and d.left_out == 1
    assert "1 seed(s) left out" in verdict_lines([d])[0]
    interval = mean_interval(results["a"]["x"])
    assert interval.n == 3 and interval.diverged == 1 and interval.mean == pytest.approx(1.0)
    low, high = stats.t.interval(0.95, 2, loc=1.0, scale=stats.sem([1.0, 1.1, 0.9]))
    assert (interval.low, interval.high) == pytest.approx((low, high))
