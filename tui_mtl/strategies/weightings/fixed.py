"""`fixed`: the preset's weights w_i (changed by your keys): objective w_i s_i L_i."""

from __future__ import annotations

from tui_mtl.strategies.base import Weighting


class Fixed(Weighting):
    pass
