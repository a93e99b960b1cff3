"""Dialogs made once and pushed again: composing and mounting a dialog's widgets took 50-100 ms of
the UI thread on a 2-core box, most of a key's latency; an installed screen keeps them."""

from __future__ import annotations

from typing import Callable, TypeVar

from textual.app import App
from textual.screen import Screen

S = TypeVar("S", bound=Screen)


def kept_screen(app: App, name: str, kind: type[S], make: Callable[[], S]) -> S:
    """The screen installed as `name`, made by `make()` the first time it is asked for."""
    if not app.is_screen_installed(name):
        app.install_screen(make(), name)
    screen = app.get_screen(name)
    if not isinstance(screen, kind):
        raise TypeError(f"screen {name!r} is a {type(screen).__name__}, not a {kind.__name__}")
    return screen
