"""One head's loss over steps: train line, validation points, labelled change markers."""

from __future__ import annotations

from dataclasses import dataclass

from plotext._monitor import monitor_class
from rich.markup import escape
from rich.segment import Segment
from rich.text import Text
from textual.geometry import Region
from textual.strip import Strip
from textual_plotext import PlotextPlot

from tui_mtl.ui.colors import MARKER_COLOR, PARENT_COLOR, TRAIN_COLOR, VAL_COLOR
from tui_mtl.ui.plotting import PlotData, place_labels, prepare, reduce, smooth_series
POINT = "+"  # validation points (the bullet • is ambiguous-width: some terminals draw it two cells wide)


@dataclass(frozen=True)
class SeriesStyle:
    label: str
    color: tuple
    kind: str = "line"  # "line" (braille) or "dots" (points: validation)
    legend: bool = True


DEFAULT_STYLES = {"train": SeriesStyle("train", TRAIN_COLOR), "val": SeriesStyle("val", VAL_COLOR, "dots")}


def legend_markup(styles: dict) -> str:
    """'━ train  + val', each in its colour (a border subtitle)."""
    parts = []
    for style in styles.values():
        if not style.legend:
            continue
        r, g, b = style.color
        symbol = POINT if style.kind == "dots" else "━"
        parts.append(f"[rgb({r},{g},{b})]{symbol}[/] {escape(style.label)}")
    return "  ".join(parts)


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


def clear_figure(figure) -> None:
    """plotext's own clear_figure makes the whole figure anew (a deep copy of its monitor for a dummy
    subplot, a terminal-size query): a tenth of a plot's build. A figure without subplots draws with
    its monitor alone, so a new monitor clears it."""
    figure.monitor = monitor_class()
    figure.monitor.set_date(figure.date)
    figure.monitor.set_size(figure._size)


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

    def __init__(self, head: str, loss_name: str = "", *, floor_zero: bool = True, **kwargs) -> None:
        super().__init__(**kwargs)
        self.head = head
        self.loss_name = loss_name
        self.floor_zero = floor_zero
        self.series_styles: dict = dict(DEFAULT_STYLES)
        self.title_note = ""  # e.g. "branch grouped" or "overlay"
        self.log_scale = False
        self.show_legend = True  # off when one legend line below the plots names every branch
        self._snapshot: dict = {"train": ([], []), "val": ([], [])}
        self._events: list = []
        self._version = 0
        self._cache_key: tuple | None = None
        self._lines: list[Strip] | None = None
        self._reduced: dict = self._snapshot
        self._reduced_key: tuple | None = None
        self._smoothing = 0.0
        self.last_data: PlotData | None = None
        self.hold_redraw = False  # set_series and set_log leave the redraw to the caller (`redraw`)
        # until `redraw()`, a frame shows what was drawn before (blank if its size changed): a plot just
        # shown waits for its turn to be built instead of being built in the same frame as the others
        self.awaiting_turn = False
        self._held_log: bool | None = None
        self._update_titles()

    def _update_titles(self) -> None:
        scale = " · log10" if self.log_scale else ""
        note = f" · {self.title_note}" if self.title_note else ""
        name = f"{self.head} · {self.loss_name}" if self.loss_name else self.head
        self.border_title = f"{name}{scale}{note}"
        self.border_subtitle = legend_markup(self.series_styles) if self.show_legend else ""

    def set_series(self, snapshot: dict, events: list, styles: dict | None = None, note: str = "",
                   smoothing: float = 0.0, legend: bool = True) -> None:
        """`snapshot`: key -> (steps, values) ("train"/"val", or one per branch); `styles` name and colour
        each key (the legend); keys without a style are drawn as grey lines. `smoothing`: an EMA factor
        for every series but validation points."""
        self._snapshot = snapshot
        self._events = events
        self._smoothing = smoothing
        styles = dict(DEFAULT_STYLES) if styles is None else styles
        if styles != self.series_styles or note != self.title_note or legend != self.show_legend:
            self.series_styles, self.title_note, self.show_legend = styles, note, legend
            self._update_titles()
        self._version += 1
        if not self.hold_redraw:
            self.refresh()

    def set_log(self, log: bool) -> None:
        if self.hold_redraw:  # the title changes with the plot, when its turn comes (`redraw`)
            self._held_log = log
        elif log != self.log_scale:
            self.log_scale = log
            self._update_titles()
            self.refresh()

    def redraw(self) -> None:
        """Draw what was set while the redraw was held."""
        self.awaiting_turn = False
        if self._held_log is not None:
            log, self._held_log = self._held_log, None
            self.set_log(log)
        self.refresh()

    def draw(self) -> PlotData:
        """Fill the plotext figure for the current size; returns what was plotted."""
        width = max(self.size.width, 10)
        # Downsample once per data version and width; the log toggle then only transforms ~2w points.
        reduce_key = (self._version, width)
        if self._reduced_key != reduce_key:
            self._reduced = reduce(smooth_series(self._snapshot, self._smoothing), width)
            self._reduced_key = reduce_key
        data = prepare(self._reduced, self._events, width=width, log=self.log_scale, head=self.head,
                       floor_zero=self.floor_zero)
        plt = self.plt
        clear_figure(plt)
        # The theme first: text labels take the canvas colour as their background when drawn.
        plt.theme(self._get_plotext_theme_name(self.app.theme))
        if data.empty:
            plt.title("waiting for the first reports…")
            return data
        for key, (xs, ys) in data.series.items():  # in order: the caller puts the one to see best last
            if not len(xs):
                continue
            style = self.series_styles.get(key) or SeriesStyle(key, PARENT_COLOR, legend=False)
            if style.kind == "dots":  # points, not a line through them; "+" is narrow in every terminal
                plt.scatter(xs, ys, marker=POINT, color=style.color)
            else:
                plt.plot(xs, ys, marker="braille", color=style.color)
        lo, hi = data.ylim
        rows = max(1, min(3, (self.size.height - 6) // 3))  # label rows that fit without overlapping
        for step, label, row, right in place_labels(data.markers, data.xlim, width - 8, rows=rows):
            plt.vline(step, MARKER_COLOR)
            y = hi - row * (hi - lo) / max(self.size.height - 4, 4)
            if label:
                plt.text(label, step, y, color=MARKER_COLOR,
                         alignment="right" if right else "left")
        plt.xlim(*data.xlim)
        plt.xlabel("step")
        if data.xticks:
            plt.xticks(*data.xticks)
        plt.ylim(lo, hi)
        if data.yticks:
            plt.yticks(*data.yticks)
        return data

    def _key(self) -> tuple:
        return (self._version, self.log_scale, self.size.width, self.size.height, self.app.theme)

    def render(self):
        """A Rich Text of the plot (used by tests and as a fallback); the screen uses `render_line`."""
        self._ensure_lines()
        text = Text(no_wrap=True, overflow="crop", end="")
        for i, strip in enumerate(self._lines):
            if i:
                text.append("\n")
            for segment in strip:
                text.append(segment.text, segment.style)
        return text

    def render_line(self, y: int) -> Strip:
        """Line API: cached strips built straight from plotext's character matrix.

        This skips plotext's ANSI string, Rich's ANSI parser and Textual's content conversion —
        together most of the cost of a redraw. `render_lines` checks the cache once per redraw.
        """
        if self._lines is None:
            self._ensure_lines()
        assert self._lines is not None
        if 0 <= y < len(self._lines):
            return self._lines[y]
        return Strip.blank(self.size.width)

    def render_lines(self, crop: Region) -> list[Strip]:
        # The cache key reads the widget's size (a walk up to the screen): once per redraw, not per line.
        self._ensure_lines()
        return super().render_lines(crop)

    def _ensure_lines(self) -> None:
        key = self._key()
        if key == self._cache_key and self._lines is not None:
            return
        if self.awaiting_turn:
            width, height = self.size.width, self.size.height
            lines = self._lines
            if lines is None or len(lines) != height or (lines and lines[0].cell_length != width):
                self._lines = [Strip.blank(width)] * height
            return
        self.last_data = self.draw()
        self._lines = self._matrix_strips()
        self._cache_key = key

    def _matrix_strips(self) -> list[Strip]:
        width, height = self.size.width, self.size.height
        if width <= 0 or height <= 0:
            return []
        plt = self._plot
        plt.plotsize(width, height)
        plt._set_size(width, height)
        plt.theme(self._get_plotext_theme_name(self.app.theme))
        plt._set_sizes()
        plt._build_matrix()
        matrix = plt.monitor.matrix
        markers, fgs, bgs, styles = matrix.marker, matrix.fullground, matrix.background, matrix.style
        cache = _STYLE_CACHE
        lines = []
        for row in range(matrix.rows - 1, -1, -1):
            marker_row, fg_row, bg_row, style_row = markers[row], fgs[row], bgs[row], styles[row]
            count = len(marker_row)
            segments = []
            run_start = 0
            current = (fg_row[0], style_row[0], bg_row[0]) if count else None
            for col in range(1, count + 1):
                colors = (fg_row[col], style_row[col], bg_row[col]) if col < count else None
                if colors != current:
                    segments.append(Segment("".join(marker_row[run_start:col]), _style_for(current, cache)))
                    run_start, current = col, colors
            lines.append(Strip(segments, count).adjust_cell_length(width))
        return lines
