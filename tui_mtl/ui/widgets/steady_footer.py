"""A Footer that rebuilds its keys only when the keys it shows changed."""

from __future__ import annotations

from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Footer
from textual.widgets._footer import FooterKey


def shown_entries(screen: Screen) -> list[tuple[Binding, bool, str]]:
    """What a Footer on `screen` draws, in its order: the first shown binding of each action, whether
    it is enabled, and its tooltip."""
    by_action: dict[str, tuple[Binding, bool, str]] = {}
    for _namespace, binding, enabled, tooltip in screen.active_bindings.values():
        if binding.show:
            by_action.setdefault(binding.action, (binding, enabled, tooltip))
    return list(by_action.values())


def layout_of(entries: list[tuple[Binding, bool, str]]) -> tuple:
    """The keys and their groups: what decides the footer's widgets (labels and states do not)."""
    return tuple((binding.key, binding.group) for binding, _enabled, _tooltip in entries)


class SteadyFooter(Footer):
    """Textual's Footer recomposes (every key a new widget) whenever its screen's bindings are
    updated: on every focus change, so on every dialog closing, and when space turns from pause to
    resume. That was ~40 ms of the UI thread on this 2-core box. This one keeps its widgets when the
    same keys are shown, updating a label or an enabled state in place."""

    _layout: tuple | None = None

    def bindings_changed(self, screen: Screen) -> None:
        if not (self.is_attached and screen is self.screen and screen.app.app_focus):
            super().bindings_changed(screen)
            return
        entries = shown_entries(screen)
        layout = layout_of(entries)
        shown = list(self.query(FooterKey).results(FooterKey))
        if layout != self._layout or len(shown) != len(entries):
            self._layout = layout
            super().bindings_changed(screen)
            return
        self._bindings_ready = True
        for widget, (binding, enabled, tooltip) in zip(shown, entries):
            self._update(widget, binding, enabled, tooltip)

    def _update(self, widget: FooterKey, binding: Binding, enabled: bool, tooltip: str) -> None:
        description = "" if widget.has_class("-grouped") else binding.description
        key_display = self.app.get_key_display(binding)
        if (widget.description, widget.action, widget.key_display, not widget._disabled) == \
                (description, binding.action, key_display, enabled):
            return
        widget.description, widget.action, widget.key_display = description, binding.action, key_display
        widget._disabled = not enabled
        widget.set_class(not enabled, "-disabled")
        widget.tooltip = (tooltip or binding.description) if widget.has_class("-grouped") else (tooltip or None)
        widget.refresh(layout=True)
