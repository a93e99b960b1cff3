"""training.jit_compile / --jit: every step compiled by XLA (single, diagnostic and fused steps)
gives the weights of the uncompiled steps, within float tolerance, on the CPU."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import tiny_preset
from tui_mtl.cli import main
from tui_mtl.engine import Session

STEPS = 12


def weights(session):
    return [np.array(w) for w in session.model.get_weights()]


def compiled_by_xla(function) -> bool:
    """Whether a traced step (a TracedStep) calls a function XLA must compile (its graph says so)."""
    (concrete, *_) = function.function._list_all_concrete_functions()
    library = concrete.graph.as_graph_def().library
    return any("_XlaMustCompile" in node.attr and node.attr["_XlaMustCompile"].b
               for graph in [concrete.graph.as_graph_def(), *library.function]
               for node in (graph.node if hasattr(graph, "node") else graph.node_def))


@pytest.mark.parametrize("strategy", ["summed", "grouped", "cagrad@grouped", "summed+uncertainty", "alternating"])
def test_xla_steps_give_the_weights_of_plain_steps(strategy):
    preset = tiny_preset(strategy={"name": strategy}, training={"diagnostics_every": 5, "steps_per_call": 4})
    plain = Session(preset)
    xla = Session(preset.with_changes(training={"jit_compile": True}))
    for session in (plain, xla):
        session.run(STEPS)
    assert xla.step_count == STEPS
    for a, b in zip(weights(plain), weights(xla)):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    assert max(float(np.max(np.abs(a - b))) for a, b in zip(xla.stepper.initial_weights, weights(xla))) > 1e-3
    built = [*xla.stepper._steps.values(), *xla.stepper._fused_steps.values()]
    assert len(built) == (1 if strategy == "alternating" else 2)  # alternating never fuses
    assert all(compiled_by_xla(function) for function in built)
    assert not any(compiled_by_xla(function) for function in plain.stepper._steps.values())


def test_random_components_under_xla_draw_the_same_numbers_in_single_and_fused_steps():
    """XLA's random kernels give other numbers than the CPU's (so pcgrad's orders differ from an
    uncompiled run), but every compiled step function draws from the same stream: one step per call
    and four per call train alike."""
    preset = tiny_preset(strategy={"name": "pcgrad@grouped"}, data={"shuffle": True},
                         training={"diagnostics_every": 5, "jit_compile": True})
    single = Session(preset.with_changes(training={"steps_per_call": 1}))
    fused = Session(preset.with_changes(training={"steps_per_call": 4}))
    for session in (single, fused):
        session.run(STEPS)
    for a, b in zip(weights(single), weights(fused)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_jit_flag_turns_xla_on_for_a_headless_run(tmp_path, capsys):
    preset_file = tmp_path / "tiny.toml"
    preset_file.write_text(tiny_preset().to_toml())
    assert main(["run", str(preset_file), "--steps", "6", "--jit", "--quiet",
                 "--runs-dir", str(tmp_path / "runs")]) == 0
    (run,) = (tmp_path / "runs").iterdir()
    assert "jit_compile = true" in (run / "preset.toml").read_text()  # resume compiles the same way
