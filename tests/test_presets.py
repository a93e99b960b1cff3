"""Presets: shipped files validate, TOML round-trips, lookup and shadowing, atomic saves, and invalid
files refused with one line naming the file and the field."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import tomli_w
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import tiny_preset
from tui_mtl.errors import PresetError
from tui_mtl.presets import (
    Preset,
    find_preset_path,
    load_preset,
    parse_preset,
    preset_files,
    read_preset,
    save_user_preset,
    shipped_presets_dir,
    user_presets_dir,
)

SHIPPED = ("quickstart", "seed-two-heads", "imbalanced-scales", "multi-digits")  # documented; train offline
ALL_SHIPPED = tuple(sorted(path.stem for path in shipped_presets_dir().glob("*.toml")))


def tiny_dict() -> dict:
    return tiny_preset().model_dump(mode="json", exclude_none=True)


# --- shipped presets ---------------------------------------------------------------------


def test_shipped_folder_holds_the_documented_presets():
    assert set(SHIPPED) <= set(ALL_SHIPPED)


@pytest.mark.parametrize("name", ALL_SHIPPED)
def test_every_shipped_preset_validates_and_names_itself(name):
    preset = load_preset(name)
    assert preset.name == name  # the file name is the name users type
    assert preset.description.strip()
    assert len(preset.model.heads) >= 2
    assert read_preset(shipped_presets_dir() / f"{name}.toml") == preset


def test_shipped_presets_have_the_documented_shape():
    seed = load_preset("seed-two-heads")
    assert [(h.kind, h.loss, h.weight) for h in seed.model.heads] == [("regression", "mse", 0.4),
                                                                       ("regression", "mse", 0.6)]
    assert seed.model.trunk[0].type == "conv2d" and seed.model.trunk[-1].type == "dense"

    digits = load_preset("multi-digits")
    assert digits.data.source == "digits"
    assert list(digits.model.input_shape) == [8, 16, 1]
    assert {h.name: (h.kind, h.units) for h in digits.model.heads} == {
        "left": ("classification", 10), "right": ("classification", 10), "sum": ("regression", 1)}

    imbalanced = load_preset("imbalanced-scales")
    scales = imbalanced.data.source_spec.target_scales
    assert max(scales.values()) >= 30  # MSE grows with the square: ~1000x apart


# --- TOML round trip ---------------------------------------------------------------------


@pytest.mark.parametrize("preset", [
    tiny_preset(),
    tiny_preset(training={"optimizer": {"name": "sgd", "momentum": 0.9, "nesterov": True}},
                strategy={"name": "grouped"}),
    tiny_preset(training={"optimizer": {"name": "rmsprop", "rho": 0.8}}),
    tiny_preset(data={"source": "npz", "params": {"path": "data/my file.npz"}}),
    tiny_preset(data={"params": {"target_scales": {"size": 1000.0}, "noise": 0.0}}, description="ünïcode ✓"),
], ids=["tiny", "sgd-grouped", "rmsprop", "npz", "scales-unicode"])
def test_to_toml_round_trips(preset):
    text = preset.to_toml()
    again = parse_preset(text)
    assert again == preset
    assert again.to_toml() == text


@pytest.mark.parametrize("name", ALL_SHIPPED)
def test_shipped_presets_round_trip(name):
    preset = load_preset(name)
    assert parse_preset(preset.to_toml()) == preset


def test_defaults_are_filled_in_and_written_out():
    preset = parse_preset(tiny_preset().to_toml())
    kinds = {h.name: (h.loss, h.metric, h.units) for h in preset.model.heads}
    assert kinds == {"size": ("mse", "mae", 1),
                     "shape": ("sparse_categorical_crossentropy", "accuracy", 3),
                     "bright": ("binary_crossentropy", "accuracy", 1)}
    assert 'loss = "sparse_categorical_crossentropy"' in preset.to_toml()


def test_with_changes_switching_optimizer_drops_the_old_fields():
    preset = tiny_preset(training={"optimizer": {"name": "adam", "beta_1": 0.5}})
    sgd = preset.with_changes(training={"optimizer": {"name": "sgd"}})
    assert sgd.training.optimizer.name == "sgd"
    assert sgd.training.batch_size == preset.training.batch_size  # siblings kept


# --- lookup ------------------------------------------------------------------------------


def test_lookup_by_name_finds_the_shipped_file():
    assert find_preset_path("quickstart") == shipped_presets_dir() / "quickstart.toml"


def test_lookup_by_path(tmp_path):
    file = tmp_path / "mine.toml"
    file.write_text(tiny_preset(name="mine").to_toml(), encoding="utf-8")
    assert load_preset(str(file)).name == "mine"
    assert load_preset(file).name == "mine"
    # a path without the .toml suffix but with a separator is still a path
    other = tmp_path / "plain"
    other.write_text(tiny_preset(name="plain").to_toml(), encoding="utf-8")
    assert load_preset(str(other)).name == "plain"


def test_a_preset_whose_name_ends_in_toml_is_found_by_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    save_user_preset(tiny_preset(name="exp.toml", description="saved"))
    assert load_preset("exp.toml").description == "saved"
    # a file of that name in the current folder is a path, and wins
    (tmp_path / "exp.toml").write_text(tiny_preset(name="local").to_toml(), encoding="utf-8")
    assert load_preset("exp.toml").name == "local"


def test_missing_path_is_a_preset_error(tmp_path):
    with pytest.raises(PresetError, match="no such preset file"):
        find_preset_path(str(tmp_path / "nope.toml"))


def test_user_presets_shadow_shipped_ones(isolated_dirs):
    folder = user_presets_dir()
    assert folder == isolated_dirs / "user-presets"
    folder.mkdir(parents=True)
    (folder / "quickstart.toml").write_text(
        tiny_preset(name="quickstart", description="my own quickstart").to_toml(), encoding="utf-8")
    (folder / "extra.toml").write_text(tiny_preset(name="extra").to_toml(), encoding="utf-8")

    assert find_preset_path("quickstart") == folder / "quickstart.toml"
    assert load_preset("quickstart").description == "my own quickstart"
    listed = {path.stem: (origin, path) for origin, path in preset_files()}
    assert listed["quickstart"] == ("user", folder / "quickstart.toml")
    assert listed["extra"][0] == "user"
    assert listed["multi-digits"][0] == "shipped"
    stems = [path.stem for _origin, path in preset_files()]
    assert len(stems) == len(set(stems)) == len(ALL_SHIPPED) + 1
    # shipped first, then the user's
    origins = [origin for origin, _path in preset_files()]
    assert origins == sorted(origins, key=lambda o: o != "shipped")


def test_unknown_name_lists_the_known_names():
    with pytest.raises(PresetError) as info:
        find_preset_path("no-such-preset")
    message = str(info.value)
    assert "no-such-preset" in message
    for name in ALL_SHIPPED:
        assert name in message


def test_user_folder_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("TUI_MTL_PRESETS_DIR", str(tmp_path / "elsewhere"))
    assert user_presets_dir() == tmp_path / "elsewhere"
    monkeypatch.delenv("TUI_MTL_PRESETS_DIR")
    assert user_presets_dir().name == "presets"


# --- saving ------------------------------------------------------------------------------


def test_save_user_preset_writes_a_file_that_reads_back():
    preset = tiny_preset(name="saved", strategy={"name": "grouped"})
    path = save_user_preset(preset)
    assert path == user_presets_dir() / "saved.toml"
    assert read_preset(path) == preset
    assert load_preset("saved") == preset
    assert [p.name for p in path.parent.iterdir()] == ["saved.toml"]  # no temporary left behind


def test_save_refuses_to_overwrite_unless_asked():
    first = tiny_preset(name="saved", description="first")
    path = save_user_preset(first)
    with pytest.raises(FileExistsError):
        save_user_preset(tiny_preset(name="saved", description="second"))
    assert read_preset(path).description == "first"
    save_user_preset(tiny_preset(name="saved", description="second"), overwrite=True)
    assert read_preset(path).description == "second"


def test_a_failed_write_leaves_the_old_file_intact(monkeypatch):
    path = save_user_preset(tiny_preset(name="saved", description="first"))
    before = path.read_bytes()

    def boom(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError):
        save_user_preset(tiny_preset(name="saved", description="second"), overwrite=True)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert [p.name for p in path.parent.iterdir()] == ["saved.toml"]  # the temporary was removed


# --- invalid presets ---------------------------------------------------------------------


def _head(d, i):
    return d["model"]["heads"][i]


INVALID = {
    # id: (mutation, text expected in the message)
    "unknown-top-key": (lambda d: d.update(colour="red"), "colour"),
    "unknown-head-key": (lambda d: _head(d, 0).update(lr=0.1), "model.heads[0].lr"),
    "unknown-data-param": (lambda d: d["data"]["params"].update(pixels=3), "data.params.pixels"),
    "source-inside-params": (lambda d: d["data"]["params"].update(source="digits"), "data.params"),
    "wrong-type-batch": (lambda d: d["training"].update(batch_size="big"), "training.batch_size"),
    "wrong-type-heads": (lambda d: d["model"].update(heads="size"), "model.heads"),
    "wrong-type-shuffle": (lambda d: d["data"].update(shuffle="yes please"), "data.shuffle"),
    "duplicate-heads": (lambda d: _head(d, 1).update(name="size"), "duplicate head name 'size'"),
    "negative-rate": (lambda d: _head(d, 0).update(learning_rate=-0.01), "model.heads[0].learning_rate"),
    "zero-rate": (lambda d: _head(d, 2).update(learning_rate=0.0), "model.heads[2].learning_rate"),
    "nan-rate": (lambda d: _head(d, 0).update(learning_rate=float("nan")), "model.heads[0].learning_rate"),
    "zero-trunk-rate": (lambda d: d["training"].update(trunk_learning_rate=0.0), "training.trunk_learning_rate"),
    "negative-weight": (lambda d: _head(d, 0).update(weight=-1.0), "model.heads[0].weight"),
    "zero-loss-scale": (lambda d: _head(d, 0).update(loss_scale=0.0), "model.heads[0].loss_scale"),
    "empty-heads": (lambda d: d["model"].update(heads=[]), "model.heads"),
    "empty-trunk": (lambda d: d["model"].update(trunk=[]), "model.trunk"),
    "loss-misfit": (lambda d: _head(d, 0).update(loss="binary_crossentropy"), "loss 'binary_crossentropy'"),
    "loss-misfit-class": (lambda d: _head(d, 1).update(loss="mse"), "loss 'mse'"),
    "unknown-metric": (lambda d: _head(d, 0).update(metric="f1"), "metric 'f1'"),
    "unknown-strategy": (lambda d: d["strategy"].update(name="telepathy"), "strategy.name"),
    "unknown-source": (lambda d: d["data"].update(source="mnist"), "data.source"),
    "unknown-optimizer": (lambda d: d["training"].update(optimizer={"name": "lion"}), "training.optimizer"),
    "unknown-layer": (lambda d: d["model"]["trunk"].insert(0, {"type": "lstm"}), "model.trunk[0]"),
    "kernel-too-big": (lambda d: d["model"]["trunk"][0].update(kernel_size=9, padding="valid"),
                       "kernel 9 is larger than its input 8x8"),
    "pool-too-big": (lambda d: d["model"]["trunk"].insert(0, {"type": "max_pool", "pool_size": 9}),
                     "pool 9 is larger than its input 8x8"),
    "conv-on-flat-input": (lambda d: d["model"].update(input_shape=[64]), "needs an image input"),
    "classification-units-1": (lambda d: _head(d, 1).update(units=1), "units >= 2"),
    "classification-no-units": (lambda d: _head(d, 1).pop("units"), "units >= 2"),
    "binary-units-2": (lambda d: _head(d, 2).update(units=2), "binary head has units = 1"),
    "bad-head-name": (lambda d: _head(d, 0).update(name="my head"), "model.heads[0].name"),
    "input-mismatch": (lambda d: d["data"]["params"].update(image_size=16), "does not match"),
    "unknown-target": (lambda d: _head(d, 0).update(name="colour"),
                       "head 'colour' wants target 'colour', which the shapes source does not have"),
    "unknown-target-renamed": (lambda d: _head(d, 0).update(target="area"), "wants target 'area'"),
    "digits-input-shape": (lambda d: d["data"].update(source="digits", params={"samples": 64}),
                           "does not match the digits source's images [8, 16, 1]"),
    "negative-seed": (lambda d: d["data"].update(seed=-1), "data.seed"),
    "split-one": (lambda d: d["data"].update(validation_split=1.0), "data.validation_split"),
    "missing-model": (lambda d: d.pop("model"), "model"),
}


@pytest.mark.parametrize("case", list(INVALID), ids=list(INVALID))
def test_invalid_preset_is_refused_with_one_line_naming_file_and_field(case, tmp_path):
    mutate, expected = INVALID[case]
    data = tiny_dict()
    mutate(data)
    file = tmp_path / f"{case}.toml"
    file.write_text(tomli_w.dumps(data), encoding="utf-8")
    with pytest.raises(PresetError) as info:
        read_preset(file)
    message = str(info.value)
    assert message.startswith(f"{file}: "), message
    assert expected in message, message
    assert "\n" not in message, message
    assert "Traceback" not in message and "pydantic" not in message, message


def test_a_message_names_the_field_of_a_nested_error():
    data = tiny_dict()
    data["model"]["heads"][1]["learning_rate"] = -1.0
    with pytest.raises(PresetError) as info:
        parse_preset(tomli_w.dumps(data), "my.toml")
    assert str(info.value) == "my.toml: model.heads[1].learning_rate: Input should be greater than 0"


def test_several_problems_are_counted_in_one_line():
    data = tiny_dict()
    data["model"]["heads"][0]["learning_rate"] = -1.0
    data["training"]["batch_size"] = 0
    with pytest.raises(PresetError) as info:
        parse_preset(tomli_w.dumps(data), "my.toml")
    message = str(info.value)
    assert "\n" not in message and "(and 1 more problem)" in message


def test_digits_preset_with_its_targets_validates():
    data = tiny_dict()
    data["model"]["input_shape"] = [8, 16, 1]
    data["model"]["heads"] = [{"name": "left", "kind": "classification", "units": 10},
                              {"name": "total", "target": "sum"}]
    data["data"] = {"source": "digits", "params": {"samples": 64}}
    preset = parse_preset(tomli_w.dumps(data))
    assert [h.target_name for h in preset.model.heads] == ["left", "sum"]


def test_npz_targets_are_not_checked_before_the_file_is_read():
    preset = tiny_preset(model={"heads": [{"name": "anything"}]}, data={"source": "npz", "params": {"path": "a.npz"}})
    assert preset.model.heads[0].target_name == "anything"


def test_a_kernel_with_same_padding_may_exceed_its_input():
    data = tiny_dict()
    data["model"]["trunk"][0]["kernel_size"] = 9  # padding "same": Keras pads, this is fine
    assert parse_preset(tomli_w.dumps(data)).model.trunk[0].kernel_size == 9


def test_not_toml(tmp_path):
    file = tmp_path / "broken.toml"
    file.write_text('name = "x"\n[model\n', encoding="utf-8")
    with pytest.raises(PresetError, match=r"broken\.toml: not valid TOML"):
        read_preset(file)


def test_duplicate_toml_key_is_not_toml():
    with pytest.raises(PresetError, match="not valid TOML"):
        parse_preset('name = "a"\nname = "b"\n', "dup.toml")


def test_deeply_nested_toml_is_a_preset_error():
    with pytest.raises(PresetError, match="not valid TOML"):
        parse_preset("a = " + "[" * 5000, "deep.toml")


def test_not_utf8(tmp_path):
    file = tmp_path / "latin1.toml"
    file.write_bytes(tiny_preset(description="café").to_toml().encode("latin-1"))
    with pytest.raises(PresetError) as info:
        read_preset(file)
    assert str(info.value) == f"{file}: not valid TOML: the file is not UTF-8 text"


def test_unreadable_path_is_a_preset_error(tmp_path):
    with pytest.raises(PresetError, match="cannot read"):
        read_preset(tmp_path)  # a directory


# --- whatever the input: a Preset or a PresetError ---------------------------------------

toml_scalars = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70), st.floats(allow_nan=True), st.booleans(),
    st.text(max_size=12), st.sampled_from(["mse", "grouped", "summed", "npz", "conv2d", "dense", "shapes",
                                           "classification", "binary", "sgd", "source", "x"]))
toml_values = st.recursive(
    toml_scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4),
                            st.dictionaries(st.sampled_from(["type", "name", "units", "source", "path",
                                                             "kind", "filters", "pool_size", "size", "zz"]),
                                            inner, max_size=4)),
    max_leaves=10)


def _paths(node, prefix=()):
    yield prefix
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _paths(value, prefix + (key,))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _paths(value, prefix + (i,))


@st.composite
def mutated_presets(draw) -> str:
    """A valid preset with a few of its values replaced, removed or added: exercises every validator."""
    data = tiny_dict()
    for _ in range(draw(st.integers(1, 3))):
        paths = [p for p in _paths(data) if p]
        path = draw(st.sampled_from(paths))
        parent = data
        for part in path[:-1]:
            parent = parent[part]
        action = draw(st.sampled_from(["replace", "delete", "add"]))
        if action == "delete":
            del parent[path[-1]]
        elif action == "add" and isinstance(parent, dict):
            parent[draw(st.text(min_size=1, max_size=8))] = draw(toml_values)
        else:
            parent[path[-1]] = draw(toml_values)
    return tomli_w.dumps(data)


def _preset_or_preset_error(call) -> None:
    try:
        result = call()
    except PresetError as err:
        assert str(err) and "\n" not in str(err)
    else:
        assert isinstance(result, Preset)
        assert parse_preset(result.to_toml()) == result


FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@FAST
@given(mutated_presets())
def test_any_mutated_preset_parses_or_raises_preset_error(text):
    _preset_or_preset_error(lambda: parse_preset(text, "fuzz.toml"))


@FAST
@given(st.text(max_size=200))
def test_any_text_parses_or_raises_preset_error(text):
    _preset_or_preset_error(lambda: parse_preset(text, "fuzz.toml"))


@FAST
@given(st.binary(max_size=200) | mutated_presets().map(lambda text: text.encode("utf-8")))
def test_any_bytes_read_or_raise_preset_error(tmp_path_factory, raw):
    file = Path(tmp_path_factory.mktemp("fuzz")) / "fuzz.toml"
    file.write_bytes(raw)
    _preset_or_preset_error(lambda: read_preset(file))


def test_mutations_do_reach_valid_presets_and_errors():
    """Guard for the fuzzers: mutated presets sometimes stay valid and sometimes fail, on many fields."""
    import random

    ok = 0
    fields = set()
    rng = random.Random(0)
    for _ in range(300):
        data = tiny_dict()
        paths = [p for p in _paths(data) if p and not isinstance(p[-1], int)]
        path = rng.choice(paths)
        parent = data
        for part in path[:-1]:
            parent = parent[part]
        parent[path[-1]] = rng.choice([0, -1, "x", 2.5, [], {}, True])
        try:
            parse_preset(tomli_w.dumps(data), "m.toml")
            ok += 1
        except PresetError as err:
            fields.add(str(err).split(": ")[1])
    assert ok > 0
    assert len(fields) > 10


def test_an_unknown_key_with_a_newline_still_gives_one_line():
    data = tiny_dict()
    data["\n"] = 0
    with pytest.raises(PresetError) as info:
        parse_preset(tomli_w.dumps(data), "k.toml")
    assert str(info.value) == "k.toml: '\\n': Extra inputs are not permitted"


@pytest.mark.parametrize("name", SHIPPED)
def test_every_shipped_preset_trains_a_few_steps(name):
    import math

    from tui_mtl.engine import Session

    preset = load_preset(name)
    session = Session(preset, base_dir=shipped_presets_dir())
    report = session.run(3)
    assert report.step == 3
    assert set(report.train_loss) == set(preset.model.head_names)
    assert all(math.isfinite(v) and v > 0 for v in report.train_loss.values())
    val_loss, val_metric = session.validate()
    assert all(math.isfinite(val_loss[h]) and math.isfinite(val_metric[h]) for h in preset.model.head_names)
    assert list(session.model.output_names) == preset.model.head_names


def test_a_flat_parameter_two_components_take_is_refused_and_their_own_tables_keep_them_apart():
    """alternating's sampler and gradnorm both take `alpha`: a flat params table cannot say whose it
    is (it used to set both); [strategy.layout] and [strategy.weighting] set each its own, in the
    engine too."""
    from tui_mtl.engine import Session

    with pytest.raises(ValueError, match=r"'alpha' is a parameter of the (layout 'alternating' and the "
                                          r"weighting 'gradnorm'|weighting 'gradnorm' and the layout 'alternating')"):
        tiny_preset(strategy={"name": "alternating+gradnorm", "params": {"alpha": 0.7}})
    preset = tiny_preset(strategy={"name": "alternating+gradnorm", "layout": {"alpha": 0.5},
                                   "weighting": {"alpha": 2.0}})
    params = preset.strategy.component_params()
    assert (params["alternating"].alpha, params["gradnorm"].alpha) == (0.5, 2.0)
    strategy = Session(preset).stepper.strategy("alternating+gradnorm")
    assert (strategy.layout.params.alpha, strategy.weighting.params.alpha) == (0.5, 2.0)
