"""Number and label formatting shared by the widgets (pure functions, no Textual)."""

from __future__ import annotations

import math

def fmt_value(value: float | None, digits: int = 4) -> str:
    """A loss or metric in a fixed-ish width: 0.1234, 12.35, 1.2e-05, — for missing."""
    if value is None:
        return "—"
    if not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    magnitude = abs(value)
    if magnitude != 0 and (magnitude < 1e-3 or magnitude >= 1e5):
        return f"{value:.{max(digits - 3, 0)}e}"  # 1.2e-05, 2.2e+22: seven characters
    return f"{value:.{digits}g}" if magnitude >= 1 else f"{value:.{digits}f}"


def fmt_rate(rate: float | None) -> str:
    """A learning rate: 0.001 → 1e-03, 0.0005 → 5e-04, 0.00125 → 1.25e-03."""
    if rate is None:
        return "—"
    text = f"{rate:.2e}"
    mantissa, exponent = text.split("e")
    mantissa = mantissa.rstrip("0").rstrip(".")
    return f"{mantissa}e{int(exponent):+03d}"


def fmt_scale(scale: float) -> str:
    """A loss scale after the loss name: ×1e3, ×0.5, ×20."""
    if scale >= 1000 or scale < 0.01:
        return f"×{scale:.0e}".replace("e+0", "e").replace("e-0", "e-").replace("e+", "e")
    return f"×{scale:g}"


def fmt_weight(weight: float | None) -> str:
    return "—" if weight is None else f"{weight:.4g}"


def fmt_effective(weight: float) -> str:
    """An adaptive weighting's weight in force, marked with a star: 0.82*, 1.4*, 3e-04*."""
    if not math.isfinite(weight):
        return fmt_value(weight) + "*"
    text = f"{weight:.2f}" if 0.01 <= abs(weight) < 10 else (f"{weight:.1f}" if 10 <= abs(weight) < 1000
                                                                 else f"{weight:.0e}")
    return text + "*"


def fmt_duration(seconds: float | None) -> str:
    """ETA / elapsed: 0:07, 12:03, 1:02:03; — when unknown."""
    if seconds is None or not math.isfinite(seconds) or seconds < 0:
        return "—"
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def progress_text(step: int, target: int, steps_per_sec: float, state: str) -> str:
    """'step 1,234/2,000 · 210 steps/s · 4.8 ms/step · ETA 0:04 · running' (no wall clock used)."""
    parts = [f"step {step:,}/{target:,}"]
    if steps_per_sec > 0:
        parts.append(f"{steps_per_sec:,.0f} steps/s" if steps_per_sec >= 10 else f"{steps_per_sec:.2f} steps/s")
        parts.append(f"{1000.0 / steps_per_sec:.1f} ms/step")
        remaining = max(target - step, 0)
        parts.append(f"ETA {fmt_duration(remaining / steps_per_sec) if state == 'running' else '—'}")
    else:
        parts.extend(["— steps/s", "— ms/step", "ETA —"])
    return " · ".join(parts)


def fmt_metric(name: str | None, value: float | None) -> str:
    if value is None:
        return "—"
    if name == "accuracy":
        return f"acc {value:.1%}"
    return f"{name} {fmt_value(value, 3)}" if name else fmt_value(value, 3)
