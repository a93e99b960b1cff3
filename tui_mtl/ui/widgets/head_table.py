"""Per-head table: head, loss, weight, learning rate, train loss, best, validation loss, metric."""

from __future__ import annotations

from dataclasses import dataclass

from textual.widgets import DataTable

from tui_mtl.ui.formatting import fmt_metric, fmt_rate, fmt_value, fmt_weight, loss_label

# (key, label, width): fixed widths, so live values never get cut
# (key, label, width): fixed widths, so live values never get cut; fits 80 columns with 3-6 letter heads
COLUMNS = (("head", "head", 8), ("loss", "loss", 6), ("weight", "weight", 6), ("lr", "lr", 8), ("train", "train", 8),
           ("best", "best", 8), ("val", "val", 8), ("metric", "val metric", 11))
TRUNK = "trunk"


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

    def cells(self) -> tuple[str, ...]:
        lr = fmt_rate(self.lr) + ("…" if self.pending else "")
        return (self.head, loss_label(self.loss), fmt_weight(self.weight), lr, fmt_value(self.train),
                fmt_value(self.best), fmt_value(self.val), fmt_metric(self.metric_name, self.metric))


class HeadTable(DataTable):
    DEFAULT_CSS = """
    HeadTable { height: auto; max-height: 12; overflow-x: hidden; }
    """

    def __init__(self, head_width: int = 8, **kwargs) -> None:
        super().__init__(cursor_type="row", zebra_stripes=False, **kwargs)
        self._rows: dict[str, tuple[str, ...]] = {}
        self.head_width = max(head_width, 5)

    def on_mount(self) -> None:
        for key, label, width in COLUMNS:
            self.add_column(label, key=key, width=self.head_width if key == "head" else width)

    @property
    def selected_head(self) -> str | None:
        if not self.row_count:
            return None
        row_key, _ = self.coordinate_to_cell_key((self.cursor_row, 0))
        return row_key.value

    def show(self, rows: list[HeadRow]) -> None:
        """Add missing rows, update only the cells that changed."""
        for row in rows:
            cells = row.cells()
            old = self._rows.get(row.head)
            if old is None:
                self.add_row(*cells, key=row.head)
            elif old != cells:
                for (column, _label, _width), new, before in zip(COLUMNS, cells, old):
                    if new != before:
                        self.update_cell(row.head, column, new)
            self._rows[row.head] = cells
