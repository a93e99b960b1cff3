"""Weightings: where each head's w_i comes from. `fixed` (the user's weights) is base.Weighting."""
