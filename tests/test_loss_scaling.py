"""float16 compute with dynamic loss scaling: scaling changes no result, overflows are skipped
without pausing, the scale moves as Keras' LossScaleOptimizer moves it, and it survives forks and
checkpoints."""

import numpy as np
import pytest

from tests.conftest import tiny_preset
from tui_mtl.engine import checkpoint
from tui_mtl.engine import Session
from tui_mtl.engine.tf.loss_scaling import LossScaling

# every rule and every weighting that takes gradients of the objectives (uncertainty, gradnorm)
STRATEGIES = ["summed", "grouped", "alternating", "pcgrad", "mgda", "cagrad", "summed+uncertainty",
              "summed+gradnorm", "grouped+famo", "summed+dwa"]


def state(session) -> list:
    return list(session.capture().arrays.values())


def scale_of(session) -> tuple:
    return session.capture().loss_scale


def max_diff(a, b) -> float:
    return max(float(np.max(np.abs(np.asarray(x) - np.asarray(y)))) for x, y in zip(a, b))


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_a_loss_scale_changes_nothing_but_the_backward_pass(strategy):
    """In float32 a power-of-two scale is exact: every gradient the rules, weightings and diagnostics
    see must be unscaled, or the weights drift by a factor of 1024."""
    preset = tiny_preset(strategy={"name": strategy}, training={"diagnostics_every": 2})
    plain = Session(preset, report_every=1)
    scaled = Session(preset, report_every=1, loss_scaling=LossScaling(initial=1024.0, growth_steps=10**9))
    diagnostics = {}
    for name, session in (("plain", plain), ("scaled", scaled)):
        session.subscribe(lambda r, name=name: r.diagnostics and diagnostics.setdefault(name, r.diagnostics))
        session.run(6)
    assert max_diff(plain.model.get_weights(), plain.stepper.initial_weights) > 1e-3  # training moved
    assert max_diff(plain.model.get_weights(), scaled.model.get_weights()) <= 1e-6
    assert max_diff(state(plain), state(scaled)) <= 1e-5  # optimizer and weighting state
    for head, norm in diagnostics["plain"]["grad_norm"].items():
        assert diagnostics["scaled"]["grad_norm"][head] == pytest.approx(norm, rel=1e-5)
    assert scale_of(scaled) == (1024.0, 6) and scaled.overflow_skips == 0


def test_fp16_overflow_is_skipped_and_halves_the_scale_without_pausing():
    session = Session(tiny_preset(training={"diagnostics_every": 0}), mixed_precision="fp16", report_every=1,
                      loss_scaling=LossScaling(initial=2.0 ** 40, growth_steps=10**9))
    assert session.model.get_layer("trunk_2_dense").compute_dtype == "float16"
    before = state(session)
    session.run(1)  # d(2^40 * L)/d(output) is far beyond float16's 65504: the gradients overflow
    assert session.overflow_skips == 1 and session.state == "finished"
    assert all(np.array_equal(a, b) for a, b in zip(before, state(session)))
    assert scale_of(session) == (2.0 ** 39, 0)
    report = session.run(60)
    assert report.state == "finished" and session.last_report.message is None
    assert "nonfinite" not in [e.kind for e in session.events]
    scale, clean = scale_of(session)
    assert scale < 2.0 ** 39 and scale == 2.0 ** 40 / 2 ** session.overflow_skips  # halved once per skip
    assert 0 < clean <= 61 - session.overflow_skips  # counted since the last overflow
    assert max_diff(session.model.get_weights(), session.stepper.initial_weights) > 1e-3
    assert report.loss_scale == scale and report.as_row()["loss_scale"] == scale


def test_the_scale_doubles_after_growth_steps_clean_steps():
    session = Session(tiny_preset(training={"diagnostics_every": 0}), mixed_precision="fp16",
                      loss_scaling=LossScaling(initial=8.0, growth_steps=3))
    session.run(2)
    assert scale_of(session) == (8.0, 2)
    session.run(1)
    assert scale_of(session) == (16.0, 0)
    session.run(7)
    assert scale_of(session) == (64.0, 1)


def test_fp16_trains_like_float32():
    preset = tiny_preset(training={"diagnostics_every": 0})
    full, half = Session(preset), Session(preset, mixed_precision="fp16")
    assert half.stepper.loss_scaling == LossScaling()  # Keras' defaults: 2^15, doubling after 2000 clean steps
    first = full.validate()[0]
    for session in (full, half):
        session.run(80)
    for head, loss in full.validate()[0].items():
        assert half.validate()[0][head] == pytest.approx(loss, rel=0.1, abs=0.01)
        assert loss < first[head] or head == "size"


def test_a_diverged_loss_still_pauses_under_fp16():
    """A non-finite loss is divergence, not overflow: halving the scale would not help."""
    session = Session(tiny_preset(training={"optimizer": {"name": "sgd"}, "diagnostics_every": 0}),
                      mixed_precision="fp16", report_every=1)
    session.run(1)
    session.set_lr("size", 1e30)
    report = session.run(5)
    assert report.state == "faulted" and "non-finite loss in size" in report.fault.summary
    assert scale_of(session)[0] == 2.0 ** 15  # the scale was not blamed


def test_an_overflow_at_the_minimum_scale_pauses():
    session = Session(tiny_preset(training={"diagnostics_every": 0}), mixed_precision="fp16", report_every=1,
                      loss_scaling=LossScaling(initial=4.0, minimum=2.0))
    session.set_weight("bright", 1e6)  # finite losses, gradients beyond float16 at any scale >= 1
    report = session.run(5)
    assert session.overflow_skips == 1 and report.state == "faulted"
    assert "step 2: a non-finite or overflowing trunk gradient" in report.fault.summary  # float16 trunk, float32 heads


def test_forks_and_checkpoints_keep_the_scale_and_fit_any_precision(tmp_path):
    preset = tiny_preset(training={"diagnostics_every": 0})
    session = Session(preset, mixed_precision="fp16", loss_scaling=LossScaling(initial=2.0 ** 20))
    session.run(12)  # a few overflows first, then steps that move the weights
    state = scale_of(session)
    assert state[0] < 2.0 ** 20 and session.overflow_skips < 12
    assert max_diff(session.model.get_weights(), session.stepper.initial_weights) > 1e-4
    comparison = session.fork(["summed", "grouped"])
    assert all(scale_of(b) == state and b.mixed_precision == "fp16" for b in comparison.branches.values())
    path = checkpoint.save(session, tmp_path / "checkpoint.npz")
    assert checkpoint.read_meta(path)["mixed_precision"] == "fp16"
    resumed = Session(preset, mixed_precision="fp16")
    resumed.load_checkpoint(path)
    assert scale_of(resumed) == state
    exported = Session(preset)  # `tui-mtl export` builds a float32 session
    exported.load_checkpoint(path)
    assert max_diff(exported.model.get_weights(), session.model.get_weights()) == 0.0


def test_the_scale_stops_growing_at_its_maximum():
    session = Session(tiny_preset(training={"diagnostics_every": 0}),
                      loss_scaling=LossScaling(initial=2.0 ** 63, growth_steps=1, maximum=2.0 ** 64))
    session.run(3)
    assert scale_of(session) == (2.0 ** 64, 0)


def test_diagnostics_with_an_overflowed_head_are_dropped_not_reported():
    """Under fp16 another head's diagnostic gradient can overflow on a step that is applied."""
    import tensorflow as tf

    from tui_mtl.engine.tf.stepper import named_diagnostics

    heads = ["size", "shape", "bright"]
    finite = {"grad_norm": tf.ones([3]), "update_share": tf.ones([3]) / 3, "cosine": tf.eye(3),
              "conflict_share": tf.constant(0.0)}
    assert named_diagnostics(heads, finite)["grad_norm"] == {"size": 1.0, "shape": 1.0, "bright": 1.0}
    overflowed = dict(finite, grad_norm=tf.constant([1.0, float("inf"), 1.0]))
    assert named_diagnostics(heads, overflowed) is None
