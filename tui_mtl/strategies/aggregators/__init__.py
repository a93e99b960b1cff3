"""Aggregators: per-head trunk gradients G [K, P] -> per-head contributions whose sum is the direction."""
