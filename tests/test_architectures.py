"""Shared architectures beyond hard sharing: mmoe, cgc, ple, cross_stitch."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tests.conftest import tiny_preset
from tui_mtl.architectures.layers import CrossStitchUnit, GatedMixture
from tui_mtl.engine import Session
from tui_mtl.errors import CommandError
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


# --- keras.applications backbones as a trunk layer -------------------------------------------------

BACKBONE_NAMES = ("MobileNetV3Small", "MobileNetV3Large", "MobileNetV2", "EfficientNetB0", "ResNet50")


def backbone_preset(name: str = "MobileNetV3Small", **layer):
    return tiny_preset(model={"input_shape": [32, 32, 1], "trunk": [{"type": "application", "name": name, **layer}]},
                       data={"params": {"image_size": 32, "samples": 64}})


@pytest.mark.parametrize("name", BACKBONE_NAMES)
def test_a_backbones_counts_without_tensorflow_are_keras_own(name):
    from tui_mtl.model import build_model

    for pooling in ("avg", "none"):
        preset = backbone_preset(name, pooling=pooling)
        net = build_model(preset.model, seed=0)
        assert preset.model.param_count() == net.model.count_params()
        (layer,) = preset.model.trunk
        backbone = net.model.get_layer("trunk_0_application")
        assert layer.output_shape((32, 32, 1)) == tuple(backbone.output.shape[1:])


def test_a_backbone_trunk_trains_and_a_frozen_one_stays_put():
    trainable = Session(backbone_preset())
    frozen = Session(backbone_preset(trainable=False))
    assert len(frozen.stepper.net.trunk_variables) == 0 and len(trainable.stepper.net.trunk_variables) > 50
    before = [np.array(w) for w in trainable.stepper.model.get_layer("trunk_0_application").weights]
    frozen_before = [np.array(w) for w in frozen.stepper.model.get_layer("trunk_0_application").weights]
    trainable.run(2)
    frozen.run(2)
    after = trainable.stepper.model.get_layer("trunk_0_application").weights
    assert max(float(np.max(np.abs(a - np.array(b)))) for a, b in zip(before, after)) > 0
    for a, b in zip(frozen_before, frozen.stepper.model.get_layer("trunk_0_application").weights):
        np.testing.assert_array_equal(a, np.array(b))  # batch-norm statistics too: inference mode
    head = frozen.stepper.net.head_variables["size"][0]
    moved = np.array(head)
    frozen.set_strategy("grouped")
    frozen.run(2)
    assert float(np.max(np.abs(moved - np.array(head)))) > 0  # the heads still train
    with pytest.raises(CommandError, match="pcgrad combines the heads' gradients on the trunk, and this model's "
                                           "trunk has no trainable variables"):
        frozen.set_strategy("pcgrad")
        frozen.run(1)


def test_imagenet_weights_offline_name_the_file_and_the_folder(monkeypatch):
    from keras.src.utils import file_utils

    from tui_mtl.errors import PresetError
    from tui_mtl.model import build_model
    from tui_mtl.presets import ModelSpec

    url = "https://storage.googleapis.com/tensorflow/keras-applications/mobilenet_v3/weights_small_no_top.h5"

    def offline(*args, **kwargs):
        raise Exception(f"URL fetch failure on {url}: None -- [Errno -2] Name or service not known")

    monkeypatch.setattr(file_utils, "get_file", offline)
    monkeypatch.setenv("KERAS_HOME", "/some/keras-home")
    with pytest.raises(PresetError) as caught:
        build_model(ModelSpec.model_validate({
            "input_shape": [32, 32, 3], "heads": [{"name": "a"}, {"name": "b"}],
            "trunk": [{"type": "application", "name": "MobileNetV3Small", "weights": "imagenet"}]}), seed=0)
    assert str(caught.value) == (
        "model.trunk (MobileNetV3Small): the ImageNet weights could not be downloaded (URL fetch failure on "
        f"{url}: None -- [Errno -2] Name or service not known); put weights_small_no_top.h5 (from {url}) in "
        "/some/keras-home/models, or use weights = \"none\"")


def test_backbone_inputs_the_preset_refuses():
    with pytest.raises(ValueError, match="takes images whose sides are multiples of 32"):
        tiny_preset(model={"input_shape": [40, 40, 1], "trunk": [{"type": "application", "name": "ResNet50"}]},
                    data={"params": {"image_size": 40}})
    with pytest.raises(ValueError, match="ImageNet weights take 3 channels"):
        backbone_preset(weights="imagenet")
