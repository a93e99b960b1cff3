"""Optimizer layouts: which optimizers apply the per-head contributions (summed, grouped, alternating)."""
