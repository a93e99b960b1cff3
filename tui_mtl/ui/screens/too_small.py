"""Shown instead of the layout when the terminal is below the minimum size."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Center, Middle
from textual.screen import Screen
from textual.widgets import Static

from tui_mtl.ui.frame_pacing import PacedUpdates


def too_small_text(need: tuple[int, int], have: tuple[int, int]) -> str:
    return (f"terminal too small (need {need[0]}×{need[1]}, have {have[0]}×{have[1]})\n"
            "enlarge the window, or press q to quit")


class TooSmallScreen(PacedUpdates, Screen[None]):
    DEFAULT_CSS = """
    TooSmallScreen { align: center middle; }
    TooSmallScreen #too-small { width: auto; text-align: center; color: $warning; text-style: bold; }
    """

    def __init__(self, need: tuple[int, int], have: tuple[int, int]) -> None:
        super().__init__()
        self.need = need
        self.have = have

    def compose(self) -> ComposeResult:
        with Middle():
            with Center():
                yield Static(too_small_text(self.need, self.have), id="too-small")

    def show(self, have: tuple[int, int]) -> None:
        self.have = have
        self.query_one("#too-small", Static).update(too_small_text(self.need, have))
