"""Shared architectures beyond hard sharing: mmoe, cgc, ple, cross_stitch."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tests.conftest import tiny_preset
from tui_mtl.architectures.layers import CrossStitchUnit, GatedMixture
from tui_mtl.engine import Session
from tui_mtl.model import build_model

ARCHITECTURES = [{"type": "mmoe", "experts": 3}, {"type": "cgc", "shared": 2, "per_head": 1},
                 {"type": "ple", "levels": 3}, {"type": "cross_stitch"}]
NAMES = [a["type"] for a in ARCHITECTURES]


def preset_with(architecture, **changes):
    return tiny_preset(model={"architecture": architecture}, **changes)


def reached_by_each_head(net, preset) -> dict:
    """Variable id -> the heads whose loss has a gradient for it (None means not connected)."""
    session = Session(preset)
    x, y = next(iter(session.stepper.data.train))
    session.close()
    losses = {h.name: keras.losses.get(h.loss) for h in preset.model.heads}
    variables = net.model.trainable_variables
    with tf.GradientTape(persistent=True) as tape:
        preds = net.model(x, training=True)
        per_head = {name: tf.reduce_mean(fn(y[name], preds[name])) for name, fn in losses.items()}
    reached = {id(v): set() for v in variables}
    for name, loss in per_head.items():
        for v, g in zip(variables, tape.gradient(loss, variables)):
            if g is not None:
                reached[id(v)].add(name)
    return reached


@pytest.mark.parametrize("architecture", ARCHITECTURES, ids=NAMES)
def test_the_trunk_is_what_every_head_reaches_and_each_head_owns_what_only_it_reaches(architecture):
    preset = preset_with(architecture)
    net = build_model(preset.model, seed=3)
    reached = reached_by_each_head(net, preset)
    heads = set(preset.model.head_names)
    assert {id(v) for v in net.trunk_variables} == {i for i, by in reached.items() if by == heads}
    for head in heads:
        assert {id(v) for v in net.head_variables[head]} == {i for i, by in reached.items() if by == {head}}
    every = [*net.trunk_variables, *(v for vs in net.head_variables.values() for v in vs)]
    assert len(every) == len(net.model.trainable_variables) == len({id(v) for v in every})
    assert preset.model.param_count() == net.model.count_params()  # the spec's count, for check and summary
    if architecture["type"] != "cross_stitch":  # gates (and cgc/ple's own experts) are the heads'
        assert all(len(net.head_variables[h]) > len(build_model(tiny_preset().model).head_variables[h])
                   for h in heads)


def test_gated_mixture_and_cross_stitch_compute_their_formulas():
    rng = np.random.default_rng(0)
    gate = keras.ops.softmax(rng.normal(size=(4, 3)).astype("float32"))
    experts = [rng.normal(size=(4, 5)).astype("float32") for _ in range(3)]
    mixed = GatedMixture()([gate, *experts])
    expected = sum(np.asarray(gate)[:, e:e + 1] * experts[e] for e in range(3))
    np.testing.assert_allclose(mixed, expected, rtol=1e-6)
    columns = [rng.normal(size=(2, 3, 3, 4)).astype("float32") for _ in range(3)]
    unit = CrossStitchUnit(0.8)
    out = unit(columns)
    mix = np.full((3, 3), 0.1) + np.eye(3) * 0.7  # 0.8 kept, 0.2 shared by the two others
    np.testing.assert_allclose(unit.mix.numpy(), mix, rtol=1e-6)
    for i in range(3):
        np.testing.assert_allclose(out[i], sum(mix[i, j] * columns[j] for j in range(3)), rtol=1e-5, atol=1e-6)


def test_cross_stitch_keeping_everything_is_k_independent_columns():
    """keep = 1: each head's loss moves only its own column (the other columns' gradients are 0)."""
    preset = preset_with({"type": "cross_stitch", "keep": 1.0})
    net = build_model(preset.model, seed=3)
    session = Session(preset)
    x, y = next(iter(session.stepper.data.train))
    session.close()
    with tf.GradientTape() as tape:
        pred = net.model(x, training=True)["size"]
        loss = tf.reduce_mean(keras.losses.get("mse")(y["size"], pred))
    columns = [v for v in net.trunk_variables if "_c" in v.path and "stitch" not in v.path]
    grads = tape.gradient(loss, columns)
    own = [float(tf.reduce_max(tf.abs(g))) for v, g in zip(columns, grads) if "trunk_c0_" in v.path]
    others = [float(tf.reduce_max(tf.abs(g))) for v, g in zip(columns, grads) if "trunk_c0_" not in v.path]
    assert max(own) > 0 and others and max(others) == 0.0


@pytest.mark.parametrize("architecture", [*ARCHITECTURES[:2], {"type": "ple", "levels": 2}, ARCHITECTURES[3]],
                         ids=NAMES)
def test_every_architecture_trains_under_summed_and_an_aggregator_on_grouped_and_exports(architecture, tmp_path):
    from tui_mtl.cli.cmd_export import export_model

    session = Session(preset_with(architecture, training={"steps": 40, "diagnostics_every": 0}))
    for strategy in ("summed", "pcgrad@grouped"):  # the aggregator's rows rely on the trunk/head split
        session.set_strategy(strategy)
        first = session.run(3).train_loss
        before = [w.copy() for w in session.model.get_weights()]
        report = session.run(40)
        assert report.state.value == "finished", strategy
        assert max(float(np.max(np.abs(a - b))) for a, b in zip(before, session.model.get_weights())) > 1e-3
        assert report.train_loss["size"] < first["size"], strategy  # the regression head learns
    export_model(session.model, tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")  # its layers are registered with Keras
    x = next(iter(session.stepper.data.train))[0]
    ours, theirs = session.model(x, training=False), loaded(x, training=False)
    assert all(np.allclose(ours[h], theirs[h], atol=1e-6) for h in ours)
    session.close()


def test_mgda_ub_is_refused_where_the_heads_share_no_single_output():
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="representation = true needs one shared trunk output.*mmoe"):
        preset_with({"type": "mmoe"}, strategy={"name": "mgda", "aggregator": {"representation": True}})


def test_bad_architecture_parameters_are_named():
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="architecture.mmoe.experts"):
        preset_with({"type": "mmoe", "experts": 0})
    with pytest.raises(ValidationError, match="levels"):
        preset_with({"type": "ple", "levels": 1})
    with pytest.raises(ValidationError, match="'mmoe', 'cgc', 'ple'|does not match any"):
        preset_with({"type": "moe"})
