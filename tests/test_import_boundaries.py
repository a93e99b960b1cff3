"""The one-way layers, as imports: the controller, presets and catalog load without TensorFlow, and
the dashboard's view model without Textual (checked in a fresh interpreter each)."""

from __future__ import annotations

import subprocess
import sys

import pytest


def loaded_after(module: str) -> set[str]:
    code = (f"import sys, {module}; "
            "print(' '.join(m for m in ('tensorflow', 'keras', 'textual', 'matplotlib', 'scipy') if m in sys.modules))")
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


@pytest.mark.parametrize("module", ["tui_mtl.ui.app", "tui_mtl.cli.main"])
def test_the_app_and_the_cli_start_without_tensorflow_or_the_report_libraries(module):
    """Seconds of imports a launch does not need: TensorFlow loads on the training thread, matplotlib and
    scipy when a report or a verdict is made."""
    assert loaded_after(module) & {"tensorflow", "keras", "matplotlib", "scipy"} == set()


def test_tensorflow_for_the_app_skips_what_keras_would_load_unused_and_it_still_imports_later():
    code = ("import gc, sys\n"
            "from tui_mtl.tf_import import import_tensorflow\n"
            "tf = import_tensorflow()\n"
            "print('tf' if 'tensorflow' in sys.modules else '', 'gc' if gc.isenabled() else '',\n"
            "      *(m for m in ('sklearn', 'matplotlib.pyplot') if m in sys.modules))\n"
            "from sklearn.datasets import load_digits\n"
            "import matplotlib.pyplot\n"
            "print(load_digits().data.shape[0], tf.constant(2.0).numpy())\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    skipped, later = result.stdout.splitlines()
    assert skipped.split() == ["tf", "gc"]  # neither extra loaded; the collector is back on
    assert later == "1797 2.0"  # the digits data source and the report plots still work
