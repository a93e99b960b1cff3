"""Pure plot preparation: downsampling, the log10 transform, tick labels, marker labels.

The plot widget calls `prepare()` and hands the result to plotext. Everything here is plain Python
so a redraw costs the same at step 100 and at step 1,000,000: the history is bounded (decimated in
`tui_mtl.history`) and every series is cut to about twice the plot's width before plotting.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

MARKER_TAGS = {"strategy": "", "lr": "lr", "weight": "w", "scale": "×", "reset": "reset", "nonfinite": "NaN",
               "fork": "fork"}
HIDDEN_EVENT_KINDS = {"pause", "resume", "checkpoint"}  # not a change of the training, so no vertical line


NUMPY_FROM = 512  # longer series are bucketed with numpy (already loaded with TensorFlow)


def downsample(steps: list[float], values: list[float], buckets: int) -> tuple[list[float], list[float]]:
    """Mean of each of `buckets` equal-width step ranges; keeps the first and last points exactly.

    Bucketing by step (not by index) keeps the x axis honest when older points are already
    decimated. Non-finite values are dropped.
    """
    if len(steps) > NUMPY_FROM:
        return _downsample_numpy(steps, values, buckets)
    return _downsample_python(steps, values, buckets)


def _downsample_numpy(steps, values, buckets: int) -> tuple[list[float], list[float]]:
    import numpy as np

    s = np.asarray(steps, dtype=float)
    v = np.asarray(values, dtype=float)
    finite = np.isfinite(v)
    s, v = s[finite], v[finite]
    if len(s) <= max(buckets, 2):
        return s.tolist(), v.tolist()
    lo, hi = s[0], s[-1]
    span = hi - lo
    if span <= 0:
        return [float(s[0]), float(s[-1])], [float(v[0]), float(v[-1])]
    inner_s, inner_v = s[1:-1], v[1:-1]
    index = np.minimum(((inner_s - lo) * (buckets / span)).astype(np.int64), buckets - 1)
    counts = np.bincount(index, minlength=buckets)
    used = counts > 0
    mean_s = np.bincount(index, weights=inner_s, minlength=buckets)[used] / counts[used]
    mean_v = np.bincount(index, weights=inner_v, minlength=buckets)[used] / counts[used]
    return ([float(s[0]), *mean_s.tolist(), float(s[-1])], [float(v[0]), *mean_v.tolist(), float(v[-1])])


def _downsample_python(steps, values, buckets: int) -> tuple[list[float], list[float]]:
    pairs = [(s, v) for s, v in zip(steps, values) if math.isfinite(v)]
    if len(pairs) <= max(buckets, 2):
        return [s for s, _ in pairs], [v for _, v in pairs]
    first, last = pairs[0], pairs[-1]
    lo, hi = first[0], last[0]
    span = hi - lo
    if span <= 0:
        return [first[0], last[0]], [first[1], last[1]]
    sums_s = [0.0] * buckets
    sums_v = [0.0] * buckets
    counts = [0] * buckets
    scale = buckets / span
    top = buckets - 1
    for s, v in pairs[1:-1]:
        i = int((s - lo) * scale)
        if i > top:
            i = top
        sums_s[i] += s
        sums_v[i] += v
        counts[i] += 1
    out_s, out_v = [first[0]], [first[1]]
    for i in range(buckets):
        if counts[i]:
            out_s.append(sums_s[i] / counts[i])
            out_v.append(sums_v[i] / counts[i])
    out_s.append(last[0])
    out_v.append(last[1])
    return out_s, out_v


def to_log10(steps: list[float], values: list[float]) -> tuple[list[float], list[float]]:
    """log10 of the positive values (a loss of 0 or below has no place on a log axis)."""
    out_s, out_v = [], []
    for s, v in zip(steps, values):
        if v > 0 and math.isfinite(v):
            out_s.append(s)
            out_v.append(math.log10(v))
    return out_s, out_v


def _tick_label(value: float) -> str:
    if value == 0:
        return "0"
    exponent = math.floor(math.log10(abs(value)))
    if -3 <= exponent <= 3:
        text = f"{value:.{max(0, -exponent)}f}" if exponent < 0 else f"{value:g}"
        return text
    mantissa = value / 10**exponent
    return f"{mantissa:g}e{exponent}" if round(mantissa, 6) != 1 else f"1e{exponent}"


def log_ticks(lo: float, hi: float, max_ticks: int = 6) -> tuple[list[float], list[str]]:
    """Ticks for a linear axis that shows log10 values: positions (log10) and readable labels.

    Decades when the range spans at least two; otherwise 1-2-5 steps inside the decades.
    """
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return [], []
    if hi < lo:
        lo, hi = hi, lo
    if hi - lo < 1e-9:
        lo, hi = lo - 0.5, hi + 0.5
    first, last = math.floor(lo), math.ceil(hi)
    for mantissas in ((1,), (1, 5), (1, 2, 5), (1, 2, 3, 5, 7)):
        ticks = []
        for exponent in range(first, last + 1):
            for m in mantissas:
                position = exponent + math.log10(m)
                if lo - 1e-9 <= position <= hi + 1e-9:
                    ticks.append(position)
        if len(ticks) >= 3 or mantissas == (1, 2, 3, 5, 7):
            break
    if len(ticks) > max_ticks:  # thin out the decades evenly
        stride = math.ceil(len(ticks) / max_ticks)
        ticks = ticks[::stride]
    if len(ticks) < 2:  # a narrow range inside one decade: evenly spaced readable values
        count = 3
        ticks = [lo + (hi - lo) * i / (count - 1) for i in range(count)]
        labels = [f"{10**t:.3g}" for t in ticks]
        return ticks, labels
    return ticks, [_tick_label(10**t) for t in ticks]


def linear_ticks(lo: float, hi: float, count: int = 4) -> tuple[list[float], list[str]]:
    """Evenly spaced ticks with short labels (plotext writes 22611853716036834557952 for 2.3e22)."""
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
        return [], []
    ticks = [lo + (hi - lo) * i / (count - 1) for i in range(count)]
    return ticks, [_short(t) for t in ticks]


def _short(value: float) -> str:
    if value == 0 or 1e-3 <= abs(value) < 1e4:
        return f"{value:.3g}"
    return f"{value:.1e}".replace("e+0", "e").replace("e-0", "e-").replace("e+", "e")


def step_ticks(lo: float, hi: float, count: int = 3) -> tuple[list[float], list[str]]:
    """Round step numbers for the x axis: 0, 500, 1,000 — or 1.5k, 10k, 1.2M when large."""
    span = hi - lo
    if span <= 0:
        return [lo], [_step_label(lo)]
    raw = span / max(count - 1, 1)
    magnitude = 10 ** math.floor(math.log10(raw))
    step = max(1.0, max(m * magnitude for m in (1, 2, 2.5, 5) if m * magnitude <= raw))
    first = math.ceil(lo / step) * step
    ticks = []
    value = first
    while value <= hi + 1e-9:
        ticks.append(value)
        value += step
    return ticks, [_step_label(t) for t in ticks]


def _step_label(value: float) -> str:
    if abs(value) >= 1_000_000:
        return f"{value / 1e6:.3g}M"
    if abs(value) >= 10_000:
        return f"{value / 1e3:.3g}k"
    return f"{value:,.0f}"


def marker_label(kind: str, text: str, head: str | None = None) -> str:
    """A short label for a vertical change marker: 'grouped', 'lr', 'w', 'reset'."""
    if kind == "strategy":
        return text
    if kind in ("lr", "weight", "scale"):
        changed_head = text.split(" ", 1)[0]
        tag = MARKER_TAGS[kind]
        if head is not None and changed_head == head:
            return text.split(" ", 1)[1] if " " in text else tag
        return f"{changed_head} {tag}"
    return MARKER_TAGS.get(kind, kind)


def place_labels(markers: list[tuple[float, str]], xlim: tuple[float, float], columns: int,
                 rows: int = 3, max_len: int = 16) -> list[tuple[float, str, int, bool]]:
    """(step, label, row, right_aligned) for each marker, so labels do not overwrite each other.

    A label starts at its line, or ends there in the right 40% of the plot; one that would overlap
    an earlier label on the top row goes one row down (at most `rows` rows).
    """
    x_lo, x_hi = xlim
    span = (x_hi - x_lo) or 1.0
    taken: list[list[tuple[int, int]]] = [[] for _ in range(rows)]
    placed = []
    for step, label in markers:
        label = label[:max_len]
        column = int((step - x_lo) / span * columns)
        right = column > 0.6 * columns
        start, end = (column - len(label), column) if right else (column, column + len(label))
        for row in range(rows):
            if all(end < a or start > b for a, b in taken[row]):
                taken[row].append((start - 1, end + 1))
                placed.append((step, label, row, right))
                break
        else:  # no free row: the line stays, its label is in the change list below the plots
            placed.append((step, "", 0, right))
    return placed


@dataclass
class PlotData:
    """What one plot shows, ready for plotext: named series (train, val, or one per branch)."""

    series: dict  # key -> (steps, values), in drawing order
    markers: list[tuple[float, str]] = field(default_factory=list)  # (step, label)
    xticks: tuple[list[float], list[str]] | None = None
    yticks: tuple[list[float], list[str]] | None = None
    ylim: tuple[float, float] | None = None
    xlim: tuple[float, float] | None = None
    log: bool = False

    @property
    def train(self) -> tuple[list[float], list[float]]:
        return self.series.get("train", ([], []))

    @property
    def val(self) -> tuple[list[float], list[float]]:
        return self.series.get("val", ([], []))

    @property
    def empty(self) -> bool:
        return not any(steps for steps, _values in self.series.values())


def smooth(values: list[float], factor: float) -> list[float]:
    """An exponential moving average (factor 0: unchanged; 0.9: strong), skipping non-finite values."""
    if factor <= 0 or not values:
        return values
    out, level = [], None
    for value in values:
        if math.isfinite(value):
            level = value if level is None else factor * level + (1 - factor) * value
        out.append(value if level is None else level)
    return out


def smooth_series(snapshot: dict, factor: float) -> dict:
    """Every series but the validation points smoothed."""
    if factor <= 0:
        return snapshot
    return {key: (steps, values if key == "val" else smooth(values, factor))
            for key, (steps, values) in snapshot.items()}


def reduce(snapshot: dict, width: int) -> dict:
    """A snapshot (key -> (steps, values)) downsampled to ~2 points per column."""
    buckets = max(8, 2 * width)
    return {key: downsample(*points, buckets) for key, points in snapshot.items()}


def prepare(snapshot: dict, events: list, *, width: int, log: bool, head: str | None = None,
            floor_zero: bool = True) -> PlotData:
    """Downsample every series of a snapshot to ~2 points per column, transform, place the markers.

    `floor_zero`: keep the axis at 0 when every value is >= 0 (losses); off for cosines.
    """
    series = reduce(snapshot, width)
    if log:
        series = {key: to_log10(*points) for key, points in series.items()}
    ys = [v for _s, values in series.values() for v in values]
    xs = [s for steps, _v in series.values() for s in steps]
    data = PlotData(series, log=log)
    if not ys:
        return data
    lo, hi = min(ys), max(ys)
    pad = (hi - lo) * 0.05 or (abs(hi) * 0.05 or 0.05)
    bottom = lo - pad
    if floor_zero and lo >= 0 > bottom and not log:  # losses are never negative: keep the axis at 0
        bottom = 0.0
    data.ylim = (bottom, hi + pad)
    x_lo, x_hi = min(xs), max(xs)
    if x_hi <= x_lo:
        x_hi = x_lo + 1
    data.xlim = (x_lo, x_hi)
    data.xticks = step_ticks(x_lo, x_hi, count=max(3, min(6, width // 10)))
    data.yticks = log_ticks(*data.ylim) if log else linear_ticks(*data.ylim)
    seen: dict[float, str] = {}
    for event in events:
        if event.kind in HIDDEN_EVENT_KINDS or not (x_lo <= event.step <= x_hi):
            continue
        label = marker_label(event.kind, event.text, head)
        seen[event.step] = f"{seen[event.step]},{label}" if event.step in seen else label
    data.markers = sorted(seen.items())
    return data
