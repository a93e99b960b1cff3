"""Fused steps (several training steps per TensorFlow call, as Keras' steps_per_execution): the same
weights, validations, diagnostics and faults as one step per call."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import tiny_preset
from tui_mtl.engine import Session, State

STEPS = 40


def weights(session):
    return [np.array(w) for w in session.model.get_weights()]


def counted(session):
    """Count the stepper's calls: single steps and fused ones."""
    calls = {"step": 0, "steps": 0}
    stepper = session.stepper
    step, steps = stepper.step, stepper.steps

    def one(*args, **kwargs):
        calls["step"] += 1
        return step(*args, **kwargs)

    def several(count):
        calls["steps"] += 1
        return steps(count)

    stepper.step, stepper.steps = one, several
    return calls


@pytest.mark.parametrize("strategy", ["summed", "grouped", "pcgrad", "cagrad@grouped", "summed+uncertainty",
                                      "grouped+dwa", "summed+famo"])
def test_fused_steps_give_exactly_the_weights_of_single_steps(strategy):
    preset = tiny_preset(strategy={"name": strategy}, data={"shuffle": True},
                         training={"diagnostics_every": 7, "validate_every": 10})
    single = Session(preset.with_changes(training={"steps_per_call": 1}))
    fused = Session(preset.with_changes(training={"steps_per_call": 8}))
    calls = counted(fused)
    diagnosed: dict[int, list] = {}
    for session in (single, fused):
        seen = diagnosed[id(session)] = []
        session.subscribe(lambda r, seen=seen: seen.append(r.step) if r.diagnostics else None)
        session.run(STEPS)
    assert fused.step_count == single.step_count == STEPS
    assert calls["steps"] >= 6 and calls["step"] + calls["steps"] < STEPS  # really fused
    for a, b in zip(weights(single), weights(fused)):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    for head in single.head_names:  # validations at the same steps, with the same values
        np.testing.assert_allclose(single.history.snapshot(head)["val"], fused.history.snapshot(head)["val"],
                                   rtol=1e-6)
    assert fused.stepper.batches_drawn == single.stepper.batches_drawn == STEPS
    assert diagnosed[id(fused)] == diagnosed[id(single)] == [7, 14, 21, 28, 35]  # diagnostic steps run alone


def test_auto_fuses_after_measuring_and_stops_at_every_boundary():
    session = Session(tiny_preset(training={"diagnostics_every": 0, "validate_every": 50}), snapshot_every=60)
    calls = counted(session)
    session.run(200)
    assert session.step_count == 200
    assert calls["steps"] >= 1 and calls["steps"] + calls["step"] <= 40  # a tiny step: many per call
    assert [int(s) for s in session.history.snapshot("size")["val"][0]] == [50, 100, 150, 200]
    assert [s.step for s in session.snapshots.entries] == [60, 120, 180]  # rewind points as before


def test_a_fused_call_stops_at_the_first_step_not_applied_and_names_it():
    wild = {"trunk": 1e30, "size": 1e30, "shape": 1e30, "bright": 1e30}
    faults = []
    for per_call in (1, 16):
        session = Session(tiny_preset(training={"diagnostics_every": 0, "steps_per_call": per_call}))
        session.run(3)
        for head, rate in wild.items():
            session.set_lr(head, rate)
        report = session.run(50)
        assert report.state is State.FAULTED
        faults.append((session.step_count, report.fault.step, session.stepper.batches_drawn, weights(session)))
    (steps_a, at_a, drawn_a, w_a), (steps_b, at_b, drawn_b, w_b) = faults
    assert steps_a == steps_b and at_a == at_b and drawn_a == drawn_b
    for a, b in zip(w_a, w_b):  # the failed step changed nothing, in either
        np.testing.assert_array_equal(a, b)


def test_alternating_and_comparisons_run_one_step_per_call():
    session = Session(tiny_preset(strategy={"name": "alternating"}, training={"steps_per_call": 8}))
    calls = counted(session)
    session.run(10)
    assert calls == {"step": 10, "steps": 0}
