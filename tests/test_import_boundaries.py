"""The one-way layers, as imports: the controller, presets and catalog load without TensorFlow, and
the dashboard's view model without Textual (checked in a fresh interpreter each)."""

from __future__ import annotations

import subprocess
import sys

import pytest


def loaded_after(module: str) -> set[str]:
    code = (f"import sys, {module}; "
            "print(' '.join(m for m in ('tensorflow', 'keras', 'textual') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return set(result.stdout.split())


@pytest.mark.parametrize("module", ["tui_mtl.engine.session", "tui_mtl.engine.comparison", "tui_mtl.presets",
                                    "tui_mtl.strategies.catalog", "tui_mtl.cli.main"])
def test_the_engines_controller_and_the_presets_need_no_tensorflow(module):
    assert loaded_after(module) & {"tensorflow", "keras"} == set()


@pytest.mark.parametrize("module", ["tui_mtl.ui.view_model", "tui_mtl.ui.rows", "tui_mtl.ui.plotting",
                                    "tui_mtl.ui.summary", "tui_mtl.ui.session_source"])
def test_what_the_dashboard_shows_is_computed_without_textual_or_tensorflow(module):
    assert loaded_after(module) == set()
