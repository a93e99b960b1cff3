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
from tui_mtl.presets import Preset, origin_label, preset_files, read_preset, shipped_names
from tui_mtl.ui.frame_pacing import PacedUpdates
from tui_mtl.ui.screens.help import HelpScreen
from tui_mtl.ui.summary import describe, describe_renderable


@dataclass(frozen=True)
class PresetEntry:
    origin: str  # "shipped", "user" or "user, shadows shipped" (origin_label)
    path: Path
    preset: Preset | None
    error: str | None

    @property
    def name(self) -> str:
        return self.preset.name if self.preset else self.path.stem


RECENT_RUNS = 5


@dataclass(frozen=True)
class RunEntry:
    path: Path
    preset_name: str
    step: int | None
    strategy: str | None
    error: str | None  # why it cannot be resumed
    when: str = ""  # when it was last written, e.g. "12-01 07:45"

    @property
    def label(self) -> str:
        if self.error:
            return f"{self.when} {self.path.name}".strip()
        return f"{self.when} {self.preset_name} @{self.step:,} {self.strategy}".strip()


def _when(path: Path) -> str:
    import time

    try:
        return time.strftime("%m-%d %H:%M", time.localtime(path.stat().st_mtime))
    except OSError:
        return ""


def scan_runs(limit: int = RECENT_RUNS) -> list[RunEntry]:
    """The newest run folders with what their checkpoint says (no TensorFlow: the meta is JSON)."""
    from tui_mtl.engine.checkpoint import read_meta
    from tui_mtl.runs import recent_runs

    entries = []
    try:
        runs = recent_runs(limit=limit)
    except OSError:
        return []
    for path in runs:
        name = path.name
        checkpoint = path / "checkpoint.npz"
        when = _when(checkpoint if checkpoint.is_file() else path)
        try:
            name = read_preset(path / "preset.toml").name
        except PresetError as err:
            entries.append(RunEntry(path, name, None, None, f"its preset.toml is invalid: {err}", when))
            continue
        if not checkpoint.is_file():
            why = "no checkpoint.npz: nothing to resume"
            if (path / "comparison.json").is_file():
                why = "a comparison over seeds: see its report.html; its branches resume from seed-N/branches/"
            elif (path / "sweep.json").is_file():
                why = "a sweep: see its report.html; tui-mtl run with a trial's flags trains one"
            entries.append(RunEntry(path, name, None, None, why, when))
            continue
        try:
            meta = read_meta(checkpoint)
            entries.append(RunEntry(path, name, int(meta["step"]), str(meta["strategy"]), None, when))
        except Exception as err:  # noqa: BLE001 — an unreadable checkpoint is listed with its error
            entries.append(RunEntry(path, name, None, None, str(err), when))
    return entries


def scan_presets() -> list[PresetEntry]:
    entries = []
    shipped = shipped_names()
    for origin, path in preset_files():
        label = origin_label(origin, path.stem, shipped)
        try:
            entries.append(PresetEntry(label, path, read_preset(path), None))
        except PresetError as err:
            entries.append(PresetEntry(label, path, None, str(err)))
    return entries


class PickerScreen(PacedUpdates, Screen[None]):
    BINDINGS = [
        Binding("enter", "open", "Open", show=True, priority=False),
        Binding("f5", "rescan", "Rescan"),
        Binding("question_mark", "help", "Help"),
    ]

    def action_help(self) -> None:
        self.app.push_screen(HelpScreen(picker=True))

    def compose(self) -> ComposeResult:
        yield Static(Text.assemble(("tui-mtl", "bold"), "  pick a preset or a recent run — ↑/↓ to browse, "
                                   "Enter to train or resume"),
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
        self.runs = scan_runs()
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
        if self.runs:
            options.add_option(Option(Text("recent runs", style="bold dim"), id="runs-header", disabled=True))
            for i, run in enumerate(self.runs):
                label = Text("✗ " if run.error else "↻ ", style="bold red" if run.error else "bold green")
                label.append(run.label, style="red" if run.error else "")
                options.add_option(Option(label, id=f"run:{i}"))
        if not self.entries:
            self.query_one("#preset-detail", Static).update(
                "No presets found. Put .toml files in the user preset folder.")
            return
        options.highlighted = 0
        options.focus()
        self._show(0)

    def _run_at(self, index: int | None) -> RunEntry | None:
        if index is None:
            return None
        option_id = self.query_one("#preset-list", OptionList).get_option_at_index(index).id or ""
        return self.runs[int(option_id[4:])] if option_id.startswith("run:") else None

    def _show_run(self, run: RunEntry) -> None:
        detail = self.query_one("#preset-detail", Static)
        lines = [f"run {run.path.name}", ""]
        if run.error:
            lines += [f"cannot be resumed: {run.error}"]
        else:
            lines += [f"preset    {run.preset_name}", f"step      {run.step:,}", f"strategy  {run.strategy}", "",
                      "Enter continues this run from its checkpoint (same folder: metrics, TensorBoard "
                      "logs and checkpoints are appended)."]
        lines += ["", str(run.path)]
        self.detail_text = "\n".join(lines)
        detail.update(Text(self.detail_text))

    def _show(self, index: int | None) -> None:
        detail = self.query_one("#preset-detail", Static)
        run = self._run_at(index)
        if run is not None:
            self._show_run(run)
            return
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
        run = self._run_at(index)
        if run is not None:
            self._resume(run)
            return
        if index is None or not (0 <= index < len(self.entries)):
            return
        entry = self.entries[index]
        if entry.error:
            self.notify(entry.error, title="this preset is invalid", severity="error")
            return
        self.app.open_dashboard(entry.preset, entry.path)

    def _resume(self, run: RunEntry) -> None:
        if run.error:
            self.notify(run.error, title="cannot resume this run", severity="error")
            return
        try:
            preset = read_preset(run.path / "preset.toml")
        except PresetError as err:
            self.notify(str(err), title="cannot resume this run", severity="error")
            return
        self.app.open_dashboard(preset, None, resume_run=run.path)
