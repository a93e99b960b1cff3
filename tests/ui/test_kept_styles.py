"""A screen shown again keeps its styles unless the theme changed while it was hidden (Textual would
restyle every widget of it on every show)."""

from __future__ import annotations

from textual.containers import VerticalScroll

from tui_mtl.ui.screens.help import HelpScreen

from .conftest import make_app, press, started, ui_preset, wait_until


def dialog_background(app) -> str:
    return app.screen.query_one(VerticalScroll).styles.background.hex


# Screen's own handlers of ScreenResume and ScreenSuspend each count in `stack_updates`: a test
# waits for the count to move past what it was before the key, so each handler has run.

async def show_help(app, kept: HelpScreen | None = None) -> HelpScreen:
    """`?`; `kept`: the dialog shown (and closed) before."""
    before = kept.stack_updates if kept is not None else 0
    await press(app, "question_mark")
    await wait_until(lambda: isinstance(app.screen, HelpScreen), what="help shown")
    screen = app.screen
    await wait_until(lambda: screen.is_mounted and screen.stack_updates > before, what="help resumed")
    return screen


async def close(app, dash, screen: HelpScreen) -> None:
    before = screen.stack_updates
    await press(app, "escape")
    await wait_until(lambda: app.screen is dash and screen.stack_updates > before, what="help suspended")


async def test_a_dialog_shown_again_is_restyled_only_after_a_change_of_theme():
    app = make_app(ui_preset(training={"steps": 100000}))
    async with app.run_test(size=(120, 40)):
        dash = await started(app)
        help_screen = await show_help(app)
        dark = dialog_background(app)
        await close(app, dash, help_screen)

        restyled = []
        original = help_screen.update_node_styles
        help_screen.update_node_styles = lambda *a, **k: (restyled.append(1), original(*a, **k))[1]
        assert await show_help(app, help_screen) is help_screen
        assert restyled == [] and dialog_background(app) == dark  # the same styles, not applied again
        await close(app, dash, help_screen)

        app.theme = "textual-light"  # while the dialog is hidden
        await show_help(app, help_screen)
        assert restyled == [1]
        light = dialog_background(app)
        assert light != dark
        await close(app, dash, help_screen)
        await show_help(app, help_screen)
        assert restyled == [1] and dialog_background(app) == light
        await close(app, dash, help_screen)
        step = dash.session.step_count
        await wait_until(lambda: dash.session.step_count > step + 20, what="training goes on")
