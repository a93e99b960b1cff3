"""Per-head rate (and weight) search with Optuna: the search space, the study over one Session."""

from tui_mtl.sweep.space import Range, parse_range

__all__ = ["Range", "parse_range"]
