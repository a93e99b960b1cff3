"""Screens shown again and again. Dialogs are made once and pushed again: composing and mounting a
dialog's widgets took 50-100 ms of the UI thread on a 2-core box, most of a key's latency; an
installed screen keeps them. And a kept dialog pushed again keeps its styles (`KeptStyles`)."""

from __future__ import annotations

from typing import Callable, Hashable, TypeVar
from weakref import WeakKeyDictionary

from textual import events
from textual.app import App
from textual.screen import Screen

S = TypeVar("S", bound=Screen)

_made_for: WeakKeyDictionary[Screen, Hashable] = WeakKeyDictionary()  # the key each kept screen was made for


def kept_screen(app: App, slot: str, key: Hashable, kind: type[S], make: Callable[[], S]) -> S:
    """The screen kept in `slot` if it was made for `key`; otherwise `make()`'s, which replaces it
    (one screen per slot, so kept screens do not pile up as strategies or presets change)."""
    if app.is_screen_installed(slot):
        screen = app.get_screen(slot)
        if isinstance(screen, kind) and _made_for.get(screen) == key:
            return screen
        app.uninstall_screen(slot)
        if screen.is_mounted:
            screen.remove()
    made = make()
    _made_for[made] = key
    app.install_screen(made, slot)
    return made


class KeptStyles:
    """Mixin for a kept dialog (listed before its Screen class): when pushed again, its styles are
    applied anew only if the theme changed meanwhile.

    Textual re-applies the whole stylesheet to every widget of a pushed screen, in case the theme
    changed while it was hidden (a theme change restyles only the screens in the stack); changes of
    class, focus and size are applied as they happen. That was a third of the UI thread's time for a
    key that opens a kept dialog (`f`: 37 -> 28 ms idle here, `?`: 17 -> 10). A screen uncovered by
    a pop is not restyled by Textual anyway. Textual 8.x internals (the ScreenResume handler): the
    dependency is pinned to <9 in pyproject.toml.
    """

    _styled_for: tuple | None = None

    def _on_screen_resume(self, event: events.ScreenResume) -> None:
        # Textual calls every class's own handler along the MRO, this one before Screen's, which reads
        # the flag: no call to super here.
        app = self.app  # type: ignore[attr-defined]
        styled_for = (app.theme, app.ansi_color)
        if self._styled_for == styled_for:
            event.refresh_styles = False
        self._styled_for = styled_for
