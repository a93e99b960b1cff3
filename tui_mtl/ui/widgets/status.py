"""The dashboard's text lines: title/device/state, the strategy bar, progress, the last changes."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Static

from tui_mtl.ui.formatting import progress_text

def set_text(widget: Static, text: Text, *, layout: bool = False) -> None:
    """Update a Static only when its text changed; no relayout unless its size may change."""
    if getattr(widget, "_last_text", None) == text:
        return
    widget._last_text = text
    widget.update(text, layout=layout)


STATE_STYLES = {
    "loading": "bold black on #8b8b8b",
    "starting": "bold black on #8b8b8b",
    "compiling": "bold black on #87afd7",
    "forking": "bold black on #87afd7",
    "running": "bold black on #5faf5f",
    "paused": "bold black on #d7af5f",
    "faulted": "bold white on #d75f5f",
    "finished": "bold black on #5f87d7",
    "stopped": "bold black on #8b8b8b",
    "error": "bold white on #d75f5f",
}
STATE_WORDS = {"faulted": "NOT APPLIED · PAUSED"}


def state_badge(state: str) -> Text:
    return Text(f" {STATE_WORDS.get(state, state.upper())} ", style=STATE_STYLES.get(state, "reverse"))


class TitleBar(Horizontal):
    """'tui-mtl · quickstart   CPU (2 cores) · TF 2.21.0            RUNNING'"""

    DEFAULT_CSS = """
    TitleBar { height: 1; background: $panel; }
    TitleBar #title { width: auto; padding: 0 1; text-style: bold; }
    TitleBar #device { width: 1fr; color: $text-muted; }
    TitleBar #state { width: auto; }
    """

    def compose(self) -> ComposeResult:
        yield Static(id="title")
        yield Static(id="device")
        yield Static(id="state")

    def show(self, title: str, device: str, state: str) -> None:
        set_text(self.query_one("#title", Static), Text(title), layout=True)
        set_text(self.query_one("#device", Static), Text(device))
        set_text(self.query_one("#state", Static), state_badge(state), layout=True)


class StrategyBar(Static):
    """The strategy in force, prominently, and the keys that change it (as many as fit the width)."""

    DEFAULT_CSS = """
    StrategyBar { height: 1; padding: 0 1; }
    """

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self._args: tuple = ("", (), None, None, False)

    def show(self, strategy: str, names: tuple[str, ...], pending: str | None = None,
             branch: str | None = None, compiling: bool = False) -> None:
        """`branch`: during a comparison, the branch the keys act on (shown first); `compiling`: the
        strategy's step is being traced (seconds; again after 4 other strategies were used)."""
        self._args = (strategy, tuple(names), pending, branch, compiling)
        set_text(self, self.build(self.size.width or self.app.size.width))

    def on_resize(self) -> None:
        set_text(self, self.build(self.size.width))

    def build(self, width: int) -> Text:
        strategy, names, pending, branch, compiling = self._args
        text = Text()
        if branch:
            text.append("Branch ", style="bold")
            text.append(f" {branch} ", style="bold black on #d7af5f")
            text.append("  ")
        text.append("Strategy ", style="bold")
        shown = pending or strategy
        text.append(f" {shown} ", style="bold reverse")
        if compiling:
            text.append(" compiling its step… (seconds; the recent strategies keep theirs)", style="bold #87afd7")
            return text
        if pending and pending != strategy:
            text.append(" … at the next step", style="dim")
        else:
            text.append("  ")
        text.append("  s", style="bold")
        text.append("/", style="dim")
        text.append("S", style="bold")
        text.append(" next/prev ", style="dim")
        room = width - 2 - text.cell_len - 6
        for i, name in enumerate(names[:9], start=1):
            item = f" {i} {name}"
            if len(item) > room:
                text.append("  … ?", style="dim")
                break
            room -= len(item)
            text.append(f" {i}", style="bold")
            text.append(f" {name}", style="bold underline" if name == shown else "dim")
        return text


def bar_text(step: int, target: int, width: int = 16) -> Text:
    """A one-line progress bar drawn with box characters (no widget, no animation)."""
    fraction = 0.0 if target <= 0 else max(0.0, min(1.0, step / target))
    halves = int(round(fraction * width * 2))
    full, half = divmod(halves, 2)
    text = Text()
    text.append("━" * full, style="#5faf5f")
    if half:
        text.append("╸", style="#5faf5f")
    text.append("━" * (width - full - half), style="#3a3a3a")
    return text


class ProgressPanel(Static):
    """Progress bar plus 'step a/b · steps/s · ms/step · ETA'. Uses report numbers only (no clock)."""

    DEFAULT_CSS = """
    ProgressPanel { height: 1; padding: 0 1; }
    """

    def show(self, step: int, target: int, steps_per_sec: float, state: str) -> None:
        text = bar_text(step, target)
        text.append("  ")
        text.append(progress_text(step, target, steps_per_sec, state))
        set_text(self, text)


class EventLine(Static):
    """The last few changes (strategy, rates, weights) with the step they took effect."""

    DEFAULT_CSS = """
    EventLine { height: 1; padding: 0 1; color: $text-muted; }
    """

    def show(self, events: list, note: str | None = None, limit: int = 4) -> None:
        shown = [e for e in events if e.kind not in ("pause", "resume")][-limit:]
        text = Text()
        if note:
            text.append(note, style="bold")
            text.append("  ")
        if not shown:
            text.append("changes: none yet — keys below change the run while it trains", style="dim")
            set_text(self, text)
            return
        text.append("changes:")
        for event in shown:
            text.append("  ")
            text.append(f"@{event.step}", style="bold")
            text.append(" ")
            text.append(event.text)
        set_text(self, text)


class ErrorBanner(Static):
    DEFAULT_CSS = """
    ErrorBanner { display: none; height: auto; max-height: 7; padding: 0 1;
                  background: $error 30%; color: $text; }
    ErrorBanner.-shown { display: block; }
    ErrorBanner.-whole { max-height: 100%; }
    """

    def show(self, message: str | None, whole: bool = False) -> None:
        """`whole`: nothing else on the screen matters (the session did not start): never cut it."""
        self.set_class(whole, "-whole")
        if message:
            set_text(self, Text(message), layout=True)
            self.add_class("-shown")
        elif self.has_class("-shown"):
            self.remove_class("-shown")
