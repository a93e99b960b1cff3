"""What a sweep searches: `HEAD=LOW:HIGH` ranges, drawn on a log scale (rates and weights span
decades). Which heads exist is checked against the preset before TensorFlow loads."""

from __future__ import annotations

from dataclasses import dataclass

from tui_mtl.errors import CommandError
from tui_mtl.presets.numbers import parse_positive


@dataclass(frozen=True)
class Range:
    head: str
    low: float
    high: float

    def text(self) -> str:
        return f"{self.head}={self.low:g}:{self.high:g}"


def parse_range(text: str) -> Range:
    """'x=1e-5:1e-1' -> Range('x', 1e-5, 0.1); ValueError says what is wrong."""
    head, sep, span = text.partition("=")
    low_text, colon, high_text = span.partition(":")
    head = head.strip()
    if not sep or not colon or not head:
        raise ValueError(f"{text!r}: expected HEAD=LOW:HIGH, e.g. {head or 'x'}=1e-5:1e-1")
    try:
        low, high = parse_positive(low_text, "LOW"), parse_positive(high_text, "HIGH")
    except CommandError as err:
        raise ValueError(f"{text!r}: {err} (the range is searched on a log scale)") from None
    if high <= low:
        raise ValueError(f"{text!r}: need 0 < LOW < HIGH (the range is searched on a log scale)")
    return Range(head, low, high)
