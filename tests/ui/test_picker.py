"""The preset picker: lists shipped and user presets, shows a summary, lists broken ones with their error."""

from __future__ import annotations

import asyncio
import shutil

from tui_mtl.presets import shipped_presets_dir, user_presets_dir
from tui_mtl.ui.screens.dashboard import DashboardScreen
from tui_mtl.ui.screens.picker import PickerScreen

from .conftest import PICKER, make_app, press, wait_until


def write_user_presets():
    folder = user_presets_dir()
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "broken.toml").write_text('name = "broken"\n[model]\ninput_shape = [16, 16, 1]\n')
    (folder / "notoml.toml").write_text("this is = = not toml")
    shutil.copy(shipped_presets_dir() / "quickstart.toml", folder / "mine.toml")
    text = (folder / "mine.toml").read_text().replace('name = "quickstart"', 'name = "mine"')
    (folder / "mine.toml").write_text(text)


async def test_picker_lists_presets_with_errors_and_opens_one():
    write_user_presets()
    app = make_app(PICKER)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(lambda: isinstance(app.screen, PickerScreen), what="picker")
        picker = app.screen
        names = [e.name for e in picker.entries]
        assert "quickstart" in names and "broken" in names and "notoml" in names and "mine" in names
        broken = names.index("broken")
        picker.query_one("#preset-list").highlighted = broken
        await pilot.pause()
        detail = picker.detail_text
        assert "cannot be used" in detail and "model.trunk" in detail  # the field is named
        await press(app, "enter")
        await asyncio.sleep(0.1)
        assert app.screen is picker  # a broken preset does not open
        assert any("invalid" in (n.title or "") for n in app._notifications)
        notoml = names.index("notoml")
        picker.query_one("#preset-list").highlighted = notoml
        await pilot.pause()
        assert "not valid TOML" in picker.detail_text

        picker.query_one("#preset-list").highlighted = names.index("quickstart")
        await pilot.pause()
        detail = picker.detail_text
        assert "18,021" in detail and "shape" in detail and "shipped" in detail
        await press(app, "enter")
        await wait_until(lambda: isinstance(app.screen, DashboardScreen), what="dashboard")
        await wait_until(lambda: app.dashboard.session is not None, what="session")
        assert app.dashboard.preset.name == "quickstart"
        await press(app, "q")


async def test_picker_names_shadowing_presets_shows_targets_and_its_own_keys():
    from tui_mtl.ui.screens.help import HelpScreen

    folder = user_presets_dir()
    folder.mkdir(parents=True, exist_ok=True)
    text = (shipped_presets_dir() / "imbalanced-scales.toml").read_text()
    (folder / "imbalanced-scales.toml").write_text(text.replace("learning_rate = 0.001", "learning_rate = 0.002", 1))
    app = make_app(PICKER)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(lambda: isinstance(app.screen, PickerScreen), what="picker")
        picker = app.screen
        entry = next(e for e in picker.entries if e.name == "imbalanced-scales")
        assert entry.origin == "user, shadows shipped"  # the words `tui-mtl presets` uses
        picker.query_one("#preset-list").highlighted = picker.entries.index(entry)
        await pilot.pause()
        detail = picker.detail_text
        assert "area: regression, target size" in detail  # each head's target
        assert "display   log scale" in detail
        await press(app, "question_mark")
        await wait_until(lambda: isinstance(app.screen, HelpScreen), what="the picker's help")
        text = str(app.screen.query(".dialog-title").first().render())
        assert "preset picker" in text
