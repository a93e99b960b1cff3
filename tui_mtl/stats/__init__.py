"""Statistics of a comparison over seeds (TF-free): intervals, paired differences, the verdict."""

from tui_mtl.stats.paired import Difference, Interval, SeedResults, mean_interval, paired_differences
from tui_mtl.stats.verdict import verdict_lines

__all__ = ["Difference", "Interval", "SeedResults", "mean_interval", "paired_differences", "verdict_lines"]
