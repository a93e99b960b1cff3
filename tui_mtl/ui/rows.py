"""What the head table shows, row by row: plain values and their cells as text, without Textual
(the view model builds them; the HeadTable widget draws them)."""

from __future__ import annotations

from dataclasses import dataclass

from tui_mtl.presets import loss_label
from tui_mtl.ui.formatting import fmt_effective, fmt_metric, fmt_rate, fmt_scale, fmt_value, fmt_weight


LOSS_WIDTH = 8  # the head table's loss column


def loss_cell(loss: str, scale: float | None) -> str:
    """The loss name and its scale when not 1, in LOSS_WIDTH: the name gives way, the scale never does
    ("xent×1e21" became "xent×1e2", another number, when the cell was cut)."""
    suffix = fmt_scale(scale) if scale not in (None, 1.0) else ""
    name = loss_label(loss)
    if len(name) + len(suffix) > LOSS_WIDTH:
        name = name[:max(0, LOSS_WIDTH - len(suffix) - 1)] + "…"
    return name + suffix


@dataclass(frozen=True)
class HeadRow:
    head: str
    loss: str
    weight: float | None
    lr: float | None
    train: float | None
    best: float | None
    val: float | None
    metric_name: str | None
    metric: float | None
    pending: bool = False  # a change was sent but is not in force yet
    effective: float | None = None  # the weight an adaptive weighting uses now (shown with a *)
    scale: float | None = None  # the loss scale s_i

    def cells(self) -> tuple[str, ...]:
        lr = fmt_rate(self.lr) + ("…" if self.pending else "")
        weight = fmt_effective(self.effective) if self.effective is not None else fmt_weight(self.weight)
        return (self.head, loss_cell(self.loss, self.scale), weight, lr, fmt_value(self.train),
                fmt_value(self.best), fmt_value(self.val), fmt_metric(self.metric_name, self.metric))


@dataclass(frozen=True)
class CompareRow:
    """One head during a comparison: the current branch's rate, then train/best/val of every branch;
    a ★ marks the best branch for this head (lowest validation loss, else lowest train loss)."""

    head: str
    lr: float | None
    pending: bool
    values: tuple  # per branch: (train, best, val, is_best, diverged)
    with_best: bool = True

    def cells(self) -> tuple[str, ...]:
        cells = [self.head, fmt_rate(self.lr) + ("…" if self.pending else "")]
        for train, best, val, star, diverged in self.values:
            if diverged:
                cells += ["diverged"] + ([""] if self.with_best else []) + [""]
                continue
            cells.append(fmt_value(train))
            if self.with_best:
                cells.append(fmt_value(best))
            cells.append(fmt_value(val) + ("★" if star and val is not None else ""))
        return tuple(cells)
