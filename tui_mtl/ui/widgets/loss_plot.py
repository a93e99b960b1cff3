"""One head's loss over steps: train line, validation points, labelled change markers."""

from __future__ import annotations

from rich.text import Text
from textual_plotext import PlotextPlot

from tui_mtl.ui.plotting import PlotData, place_labels, prepare

TRAIN_COLOR = (86, 182, 194)  # cyan
VAL_COLOR = (229, 152, 75)  # orange
MARKER_COLOR = (150, 150, 150)


_STYLE_CACHE: dict = {}


def _style_for(colors: tuple, cache: dict):
    """The Rich Style of one plotext (colour, style, background) triple, via plotext's own ANSI."""
    style = cache.get(colors)
    if style is None:
        from plotext._utility import colors_to_ansi

        parsed = Text.from_ansi(colors_to_ansi(*colors) + "x")
        spans = parsed.spans
        style = spans[0].style if spans else parsed.style
        cache[colors] = style
    return style


class LossPlot(PlotextPlot):
    """A PlotextPlot that rebuilds only when its data, size, scale or theme changed.

    `set_series()` stores a History snapshot; the figure is prepared (downsampled to about two
    points per column, log10 if asked) and built in `render()`, so its cost follows the widget's
    width, not the length of the run.
    """

    DEFAULT_CSS = """
    LossPlot {
        border: round $panel;
        border-title-color: $text;
        border-subtitle-color: $text-muted;
        height: 1fr;
        width: 1fr;
        min-height: 6;
    }
    """

    def __init__(self, head: str, loss_name: str = "", **kwargs) -> None:
        super().__init__(**kwargs)
        self.head = head
        self.loss_name = loss_name
        self.log_scale = False
        self._snapshot: dict = {"train": ([], []), "val": ([], [])}
        self._events: list = []
        self._version = 0
        self._cache_key: tuple | None = None
        self._cache: Text | None = None
        self.last_data: PlotData | None = None
        self._update_titles()

    def _update_titles(self) -> None:
        scale = " · log10" if self.log_scale else ""
        self.border_title = f"{self.head} · {self.loss_name}{scale}" if self.loss_name else f"{self.head}{scale}"
        self.border_subtitle = "━ train  • val"

    def set_series(self, snapshot: dict, events: list) -> None:
        self._snapshot = snapshot
        self._events = events
        self._version += 1
        self.refresh()

    def set_log(self, log: bool) -> None:
        if log != self.log_scale:
            self.log_scale = log
            self._update_titles()
            self.refresh()

    def draw(self) -> PlotData:
        """Fill the plotext figure for the current size; returns what was plotted."""
        width = max(self.size.width, 10)
        data = prepare(self._snapshot, self._events, width=width, log=self.log_scale, head=self.head)
        plt = self.plt
        plt.clear_figure()
        # The theme first: text labels take the canvas colour as their background when drawn.
        plt.theme(self._get_plotext_theme_name(self.app.theme))
        plt.yfrequency(4)
        if data.empty:
            plt.title("waiting for the first reports…")
            return data
        if len(data.train[0]):
            plt.plot(*data.train, marker="braille", color=TRAIN_COLOR)
        if len(data.val[0]):
            plt.plot(*data.val, marker="•" if len(data.val[0]) < width // 2 else "braille", color=VAL_COLOR)
        lo, hi = data.ylim
        for step, label, row, right in place_labels(data.markers, data.xlim, width - 8):
            plt.vline(step, MARKER_COLOR)
            y = hi - row * (hi - lo) / max(self.size.height - 4, 4)
            if label:
                plt.text(label, step, y, color=MARKER_COLOR,
                         alignment="right" if right else "left")
        plt.xlim(*data.xlim)
        if data.xticks:
            plt.xticks(*data.xticks)
        plt.ylim(lo, hi)
        if data.yticks:
            plt.yticks(*data.yticks)
        return data

    def render(self):
        key = (self._version, self.log_scale, self.size.width, self.size.height, self.app.theme)
        if key == self._cache_key and self._cache is not None:
            return self._cache
        self.last_data = self.draw()
        try:
            self._cache = self._render_matrix()
        except Exception:  # plotext internals changed: fall back to its ANSI string (slower)
            self._cache = super().render()
        self._cache_key = key
        return self._cache

    def _render_matrix(self) -> Text:
        """Rich Text straight from plotext's character matrix.

        Skips plotext's ANSI string and Rich's ANSI parser (together about half the cost of a
        redraw): each distinct (colour, style, background) triple is turned into a Style once.
        """
        width, height = self.size.width, self.size.height
        plt = self._plot
        plt.plotsize(width, height)
        plt._set_size(width, height)
        plt.theme(self._get_plotext_theme_name(self.app.theme))
        plt._set_sizes()
        plt._build_matrix()
        matrix = plt.monitor.matrix
        markers, fgs, bgs, styles = matrix.marker, matrix.fullground, matrix.background, matrix.style
        text = Text(no_wrap=True, overflow="crop", end="")
        cache = _STYLE_CACHE
        rows = matrix.rows
        for row in range(rows - 1, -1, -1):
            marker_row, fg_row, bg_row, style_row = markers[row], fgs[row], bgs[row], styles[row]
            run_start = 0
            current = (fg_row[0], style_row[0], bg_row[0]) if fg_row else None
            for col in range(1, len(marker_row) + 1):
                colors = (fg_row[col], style_row[col], bg_row[col]) if col < len(marker_row) else None
                if colors != current:
                    text.append("".join(marker_row[run_start:col]), _style_for(current, cache))
                    run_start, current = col, colors
            if row:
                text.append("\n")
        return text
