"""Pick a preset: shipped and user presets, a summary of each, broken ones with their error."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rich.markup import escape
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, OptionList, Static
from textual.widgets.option_list import Option

from tui_mtl.errors import PresetError
from tui_mtl.presets import Preset, preset_files, read_preset
from tui_mtl.ui.summary import describe, describe_renderable


@dataclass(frozen=True)
class PresetEntry:
    origin: str  # "shipped" or "user"
    path: Path
    preset: Preset | None
    error: str | None

    @property
    def name(self) -> str:
        return self.preset.name if self.preset else self.path.stem


def scan_presets() -> list[PresetEntry]:
    entries = []
    for origin, path in preset_files():
        try:
            entries.append(PresetEntry(origin, path, read_preset(path), None))
        except PresetError as err:
            entries.append(PresetEntry(origin, path, None, str(err)))
    return entries


class PickerScreen(Screen[None]):
    BINDINGS = [
        Binding("enter", "open", "Open", show=True, priority=False),
        Binding("f5", "rescan", "Rescan"),
    ]

    def compose(self) -> ComposeResult:
        yield Static(Text.assemble(("tui-mtl", "bold"), "  pick a preset — ↑/↓ to browse, Enter to train"),
                     id="picker-title")
        with Horizontal(id="picker-body"):
            yield OptionList(id="preset-list")
            with VerticalScroll(id="preset-detail-box"):
                yield Static(id="preset-detail")
        yield Footer()

    def on_mount(self) -> None:
        self.action_rescan()

    def action_rescan(self) -> None:
        self.entries = scan_presets()
        options = self.query_one("#preset-list", OptionList)
        options.clear_options()
        for i, entry in enumerate(self.entries):
            label = Text()
            if entry.error:
                label.append("✗ ", style="bold red")
                label.append(entry.name, style="red")
            else:
                label.append("  ")
                label.append(entry.name)
            label.append(f"  {entry.origin}", style="dim")
            options.add_option(Option(label, id=str(i)))
        if not self.entries:
            self.query_one("#preset-detail", Static).update(
                "No presets found. Put .toml files in the user preset folder.")
            return
        options.highlighted = 0
        options.focus()
        self._show(0)

    def _show(self, index: int | None) -> None:
        detail = self.query_one("#preset-detail", Static)
        if index is None or not (0 <= index < len(self.entries)):
            self.detail_text = ""
            detail.update("")
            return
        entry = self.entries[index]
        where = f"{entry.path} ({entry.origin})"
        if entry.error:
            self.detail_text = f"{entry.name}: cannot be used\n\n{entry.error}\n\n{where}"
            detail.update(f"[b red]{escape(entry.name)}: cannot be used[/b red]\n\n{escape(entry.error)}"
                          f"\n\n[dim]{escape(where)}[/dim]")
        else:
            self.detail_text = describe(entry.preset) + "\n\n" + where
            detail.update(describe_renderable(entry.preset, where))

    @on(OptionList.OptionHighlighted)
    def _highlighted(self, event: OptionList.OptionHighlighted) -> None:
        self._show(event.option_index)

    @on(OptionList.OptionSelected)
    def _selected(self, event: OptionList.OptionSelected) -> None:
        self._open(event.option_index)

    def action_open(self) -> None:
        self._open(self.query_one("#preset-list", OptionList).highlighted)

    def _open(self, index: int | None) -> None:
        if index is None or not (0 <= index < len(self.entries)):
            return
        entry = self.entries[index]
        if entry.error:
            self.notify(entry.error, title="this preset is invalid", severity="error")
            return
        self.app.open_dashboard(entry.preset, entry.path)
