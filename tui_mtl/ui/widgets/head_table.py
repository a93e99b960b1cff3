"""Per-head table: head, loss, weight, learning rate, train loss, best, validation loss, metric."""

from __future__ import annotations

from rich.segment import Segment
from rich.style import Style
from textual.strip import Strip
from textual.widget import Widget

from tui_mtl.ui.rows import LOSS_WIDTH


# (key, label, width): fixed widths, so live values never get cut; fits 80 columns with 3-6 letter heads
# (a longer cell ends in "…"). The loss column shows the head's loss scale when it is not 1 ("mse×1e3").
COLUMNS = (("head", "head", 8), ("loss", "loss", LOSS_WIDTH), ("weight", "weight", 6), ("lr", "lr", 8),
           ("train", "train", 7), ("best", "best", 7), ("val", "val", 7), ("metric", "val metric", 11))


def compare_columns(branches: list[str], current: str, with_best: bool = True) -> tuple:
    columns = [("head", "head", 8), ("lr", "lr", 8)]
    for name in branches:
        label = ("▸" if name == current else "") + name
        columns.append((f"{name}/train", label[:9], 9))
        if with_best:
            columns.append((f"{name}/best", "best", 8))
        columns.append((f"{name}/val", "val", 9))
    return tuple(columns)


def fit(cell: str, width: int) -> str:
    """A cell in its column: padded, or cut with an ellipsis (a cut number must not read as another)."""
    return cell.ljust(width) if len(cell) <= width else cell[:width - 1] + "…"


def columns_width(columns: tuple) -> int:
    return 1 + sum(width + 2 for _key, _label, width in columns)


class HeadTable(Widget):
    """One line per head (and the trunk), a header, one row selected.

    A Line API widget with one cached Strip per row: an update re-renders only the rows whose text
    changed (Textual's DataTable re-renders every cell through Rich on each change, which cost a
    noticeable share of the training thread's steps through the GIL).
    """

    DEFAULT_CSS = """
    HeadTable { height: auto; width: 1fr; }
    """

    HEADER_STYLE = Style(bold=True, bgcolor="#2b3440")
    ROW_STYLE = Style()
    SELECTED_STYLE = Style(bold=True, color="#ffffff", bgcolor="#0178d4")

    def __init__(self, head_width: int = 8, **kwargs) -> None:
        super().__init__(**kwargs)
        self.head_width = max(head_width, 5)
        self.columns = COLUMNS
        self.widths = [self.head_width if key == "head" else width for key, _label, width in COLUMNS]
        self._cells: list[tuple[str, ...]] = []
        self._heads: list[str] = []
        self._strips: dict[int, Strip] = {}
        self.cursor_row = 0

    def _line(self, cells: tuple[str, ...]) -> str:
        return " " + "  ".join(fit(cell, width) for cell, width in zip(cells, self.widths))

    def get_content_height(self, container, viewport, width: int) -> int:
        return 1 + max(len(self._cells), 1)

    @property
    def row_count(self) -> int:
        return len(self._cells)

    @property
    def selected_head(self) -> str | None:
        return self._heads[self.cursor_row] if self._heads else None

    def action_cursor_up(self) -> None:
        self.move_cursor(self.cursor_row - 1)

    def action_cursor_down(self) -> None:
        self.move_cursor(self.cursor_row + 1)

    def move_cursor(self, row: int) -> None:
        if not self._cells:
            return
        row = max(0, min(row, len(self._cells) - 1))
        if row != self.cursor_row:
            old, self.cursor_row = self.cursor_row, row
            self._strips.pop(old + 1, None)
            self._strips.pop(row + 1, None)
            self.refresh()

    def set_columns(self, columns: tuple) -> None:
        """Switch the header and widths (one head table layout per mode: single session, comparison)."""
        if columns == self.columns:
            return
        self.columns = columns
        self.widths = [self.head_width if key == "head" else width for key, _label, width in columns]
        self._cells = []
        self._strips.clear()
        self.refresh(layout=True)

    def show(self, rows: list) -> None:
        """Cache the new rows; refresh only if a row's text changed."""
        cells = [row.cells() for row in rows]
        if cells == self._cells:
            return
        grew = len(cells) != len(self._cells)
        for i, new in enumerate(cells):
            if i >= len(self._cells) or self._cells[i] != new:
                self._strips.pop(i + 1, None)
        self._cells = cells
        self._heads = [row.head for row in rows]
        self.cursor_row = min(self.cursor_row, max(len(cells) - 1, 0))
        self.refresh(layout=grew)

    def render_line(self, y: int) -> Strip:
        strip = self._strips.get(y)
        if strip is not None and strip.cell_length == self.size.width:
            return strip
        width = self.size.width
        if y == 0:
            text, style = self._line(tuple(label for _key, label, _w in self.columns)), self.HEADER_STYLE
        elif y - 1 < len(self._cells):
            text = self._line(self._cells[y - 1])
            style = self.SELECTED_STYLE if y - 1 == self.cursor_row else self.ROW_STYLE
        else:
            return Strip.blank(width)
        strip = Strip([Segment(text, style)]).adjust_cell_length(width, style)
        self._strips[y] = strip
        return strip
