"""Dialogs made once and pushed again: composing and mounting a dialog's widgets took 50-100 ms of
the UI thread on a 2-core box, most of a key's latency; an installed screen keeps them."""

from __future__ import annotations

from typing import Callable, Hashable, TypeVar
from weakref import WeakKeyDictionary

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
