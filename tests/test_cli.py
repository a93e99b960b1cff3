"""The real command line, run as a subprocess: `python -m tui_mtl ...` (and the console script)."""

from __future__ import annotations

import csv
import json
import math
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import tiny_preset
from tui_mtl.presets import parse_preset, shipped_presets_dir

SHIPPED = ("quickstart", "seed-two-heads", "imbalanced-scales", "multi-digits")  # documented
ALL_SHIPPED = tuple(sorted(path.stem for path in shipped_presets_dir().glob("*.toml")))
HEADS = ("size", "shape", "bright")


def tui_mtl(*args, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONWARNINGS": "ignore"}
    return subprocess.run([sys.executable, "-m", "tui_mtl", *map(str, args)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)


def assert_usage_error(result: subprocess.CompletedProcess, *expected: str) -> str:
    """Exit 2, exactly one line on stderr naming the problem, no traceback."""
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr + result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    line = lines[0]
    assert line.startswith("tui-mtl: error: "), line
    for text in expected:
        assert text in line, line
    return line


@pytest.fixture
def tiny_file(tmp_path) -> Path:
    path = tmp_path / "tiny.toml"
    path.write_text(tiny_preset().to_toml(), encoding="utf-8")
    return path


# --- presets -----------------------------------------------------------------------------


def test_presets_lists_every_shipped_preset_with_its_description(tmp_path):
    from tui_mtl.presets import load_preset

    result = tui_mtl("presets", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert set(SHIPPED) <= set(ALL_SHIPPED)
    assert len(lines) == len(ALL_SHIPPED)
    for name in ALL_SHIPPED:
        line = next(line for line in lines if line.split()[0] == name)
        assert line.split()[1] == "shipped"
        assert load_preset(name).description in line
    assert tui_mtl("presets", "list", cwd=tmp_path).stdout == result.stdout


def test_presets_lists_user_presets_and_flags_invalid_ones(tmp_path, isolated_dirs):
    folder = isolated_dirs / "user-presets"
    folder.mkdir()
    (folder / "mine.toml").write_text(tiny_preset(name="mine", description="my preset").to_toml(), encoding="utf-8")
    (folder / "broken.toml").write_text("name = ", encoding="utf-8")
    (folder / "long.toml").write_text(tiny_preset(name="long", description="two\nlines ").to_toml(), encoding="utf-8")
    (folder / "bare.toml").write_text(tiny_preset(name="bare", description="").to_toml(), encoding="utf-8")
    result = tui_mtl("presets", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    rows = {line.split()[0]: line for line in result.stdout.splitlines()}
    assert set(rows) == set(ALL_SHIPPED) | {"mine", "broken", "long", "bare"}
    assert len(result.stdout.splitlines()) == len(rows)  # one line each, even for a multi-line description
    assert re.match(r"mine\s+user\s+my preset$", rows["mine"])
    assert re.match(r"long\s+user\s+two lines$", rows["long"])
    assert re.match(r"bare\s+user$", rows["bare"])
    assert "INVALID" in rows["broken"] and "not valid TOML" in rows["broken"]


def test_presets_show_prints_toml_that_parses(tmp_path):
    result = tui_mtl("presets", "show", "quickstart", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    preset = parse_preset(result.stdout)
    assert preset.name == "quickstart"
    assert [h.name for h in preset.model.heads] == ["shape", "size", "x"]


def test_presets_show_unknown_name(tmp_path):
    assert_usage_error(tui_mtl("presets", "show", "nope", cwd=tmp_path), "unknown preset 'nope'", "quickstart")


def test_presets_check_good_file(tmp_path, tiny_file):
    result = tui_mtl("presets", "check", tiny_file, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"{tiny_file}: ok (tiny: 3 heads, strategy summed)"


def test_presets_check_bad_file(tmp_path, tiny_file):
    bad = tmp_path / "bad.toml"
    bad.write_text(tiny_file.read_text().replace("learning_rate = 0.01", "learning_rate = -0.01", 1))
    result = tui_mtl("presets", "check", tiny_file, bad, cwd=tmp_path)
    line = assert_usage_error(result, str(bad), "learning_rate", "greater than 0")
    assert line == f"tui-mtl: error: {bad}: model.heads[0].learning_rate: Input should be greater than 0"
    assert result.stdout.startswith(f"{tiny_file}: ok")  # the good one was checked first


def test_presets_check_not_toml(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_bytes(b"\xff\xfe garbage")
    assert_usage_error(tui_mtl("presets", "check", bad, cwd=tmp_path), str(bad), "not UTF-8")


def test_presets_check_catches_what_run_used_to_find_out_too_late(tmp_path):
    """Bad strategy parameters, a missing data file and a model that cannot fit passed `check` and
    failed at `run` (the last with a 30-line ResourceExhaustedError)."""
    heads = tiny_preset().model.model_dump()["heads"]
    heads[0]["hidden"] = [2_000_000_000]
    cases = {
        "params.toml": (tiny_preset().to_toml().replace('name = "summed"', 'name = "cagrad"\nparams = { c = -1 }'),
                        ["params.toml: strategy", "aggregator 'cagrad': c", "greater than or equal to 0"]),
        "unknown.toml": (tiny_preset().to_toml().replace('name = "summed"', 'name = "summed+dwa"\n'
                                                         '[strategy.weighting]\nwindows = 5'),
                         ["weighting 'dwa': windows: unknown parameter (it takes: window, temperature)"]),
        "data.toml": (tiny_preset(data={"source": "npz", "params": {"path": "nowhere.npz"}}).to_toml(),
                      ["data.toml: data.params.path: no such file", "nowhere.npz"]),
        "huge.toml": (tiny_preset(model={"heads": heads}).to_toml(),
                      ["huge.toml: model.heads[0] (size)", "cannot hold a tensor"]),
    }
    for name, (text, expected) in cases.items():
        (tmp_path / name).write_text(text)
        assert_usage_error(tui_mtl("presets", "check", name, cwd=tmp_path), *expected)
    big = tiny_preset(model={"trunk": [{"type": "flatten"}, {"type": "dense", "units": 40000},
                                       {"type": "dense", "units": 40000}]})
    (tmp_path / "big.toml").write_text(big.to_toml())
    line = assert_usage_error(tui_mtl("presets", "check", "big.toml", cwd=tmp_path), "GiB to train")
    assert "this machine has" in line and "smaller layers" in line
    run = tui_mtl("run", "big.toml", "--steps", "2", cwd=tmp_path)  # and run says the same, at once
    assert_usage_error(run, "GiB to train")


def test_presets_lists_a_user_preset_that_shadows_a_shipped_one_as_the_picker_does(tmp_path, isolated_dirs):
    folder = isolated_dirs / "user-presets"
    folder.mkdir()
    (folder / "quickstart.toml").write_text((shipped_presets_dir() / "quickstart.toml").read_text())
    rows = {line.split()[0]: line for line in tui_mtl("presets", cwd=tmp_path).stdout.splitlines()}
    assert "user, shadows shipped" in rows["quickstart"]


def test_out_of_memory_while_building_is_one_line(tmp_path):
    """A model too big for the device fails in Keras' build: one message, no traceback."""
    code = """
import sys
from tui_mtl.cli.args import quiet_tensorflow_import
quiet_tensorflow_import()  # as the CLI imports TensorFlow
import tensorflow as tf
import tui_mtl.model
def exhausted(*args, **kwargs):
    raise tf.errors.ResourceExhaustedError(None, None, "OOM when allocating tensor with shape[50000,50000]")
tui_mtl.model.build_model = exhausted
from tui_mtl.cli import main
sys.exit(main(["run", sys.argv[1], "--steps", "2", "--no-record"]))
"""
    (tmp_path / "tiny.toml").write_text(tiny_preset().to_toml())
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    result = subprocess.run([sys.executable, "-c", code, "tiny.toml"], cwd=tmp_path, env=env, capture_output=True,
                            text=True, timeout=120)
    assert_usage_error(result, "the device ran out of memory; try a smaller training.batch_size")


# --- run ---------------------------------------------------------------------------------

RUN_ARGS = ("--steps", "30", "--strategy", "grouped", "--lr", "size=1e-3", "--weight", "shape=2")


def _number(value: str) -> float:
    number = float(value)
    assert math.isfinite(number), value
    return number


def check_rows(rows: list[dict]) -> None:
    """Rows of a run of tiny (3 heads, validation every 10 steps) for RUN_ARGS."""
    assert len(rows) >= 2
    for head in HEADS:
        for prefix in ("loss", "lr", "weight", "val_loss", "val_metric"):
            assert f"{prefix}_{head}" in rows[0], sorted(rows[0])
    steps = [int(row["step"]) for row in rows]
    assert steps == sorted(steps) and steps[0] >= 1 and steps[-1] == 30
    assert rows[-1]["state"] == "finished"
    assert {row["strategy"] for row in rows} == {"grouped"}
    weights = {"size": 0.3, "shape": 2.0, "bright": 1.5}
    for row in rows:
        assert float(row["lr_size"]) == pytest.approx(0.001)  # --lr size=1e-3
        assert float(row["lr_shape"]) == pytest.approx(0.01)  # the preset's
        assert float(row["lr_trunk"]) == pytest.approx(0.01)
        assert {h: float(row[f"weight_{h}"]) for h in HEADS} == pytest.approx(weights)  # --weight shape=2
        losses = {h: _number(row[f"loss_{h}"]) for h in HEADS}
        assert all(value > 0 for value in losses.values())
        total = sum(weights[h] * losses[h] for h in HEADS)
        assert _number(row["total_loss"]) == pytest.approx(total, rel=1e-4)
    validated = [row for row in rows if row["val_loss_size"] not in ("", None)]
    assert [int(row["step"]) for row in validated] == [10, 20, 30]
    for row in validated:
        for head in HEADS:
            assert _number(row[f"val_loss_{head}"]) > 0
        for head in ("shape", "bright"):  # accuracies
            assert 0 <= _number(row[f"val_metric_{head}"]) <= 1


def test_run_tiny_preset_with_csv_metrics(tmp_path, tiny_file):
    out = tmp_path / "x.csv"
    result = tui_mtl("run", tiny_file, *RUN_ARGS, "--metrics-out", out, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == ""  # TensorFlow's native chatter is silenced
    stdout = result.stdout
    assert stdout.splitlines()[0] == "tiny: 30 steps, strategy grouped, heads size, shape, bright"
    progress = [line for line in stdout.splitlines() if re.match(r"step \d+/30 ", line)]
    assert progress and progress[-1].startswith("step 30/30")
    assert sum(line.startswith("step 30/30") for line in progress) == 1  # the end is printed once
    assert all(re.search(r"size [\d.e+-]+\s+shape [\d.e+-]+\s+bright [\d.e+-]+\s+\| \d+ steps/s\s+ETA \d+:\d\d",
                         line) for line in progress), progress
    assert any("| val size" in line for line in progress)
    # the final per-head table
    table = stdout[stdout.index("head  "):].splitlines()
    assert table[0].split() == ["head", "loss", "weight", "lr", "train", "loss", "best", "train", "val", "loss",
                                "val", "metric"]
    rows = {line.split()[0]: line.split() for line in table[2:5]}
    assert set(rows) == set(HEADS)
    assert rows["size"][1:4] == ["mse", "0.3", "0.001"]
    assert rows["shape"][1:4] == ["sparse_categorical_crossentropy", "2", "0.01"]
    assert rows["bright"][-2] == "accuracy" and 0 <= float(rows["bright"][-1]) <= 1
    assert f"metrics written to {out}" in stdout

    with open(out, newline="", encoding="utf-8") as handle:
        check_rows(list(csv.DictReader(handle)))


def test_run_with_jsonl_metrics_relative_path_and_quiet(tmp_path, tiny_file):
    result = tui_mtl("run", "tiny.toml", *RUN_ARGS, "--quiet", "--metrics-out", "out/m.jsonl", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert not re.search(r"^step \d+/", result.stdout, re.M)  # --quiet: only the table
    assert "head  " in result.stdout
    lines = (tmp_path / "out" / "m.jsonl").read_text(encoding="utf-8").splitlines()
    rows = [json.loads(line) for line in lines]
    assert all(isinstance(row["loss_size"], float) for row in rows)
    assert rows[0]["val_loss_size"] is None  # missing values are null, not ""
    check_rows([{k: ("" if v is None else v) for k, v in row.items()} for row in rows])


def test_runs_are_reproducible_for_a_seed_and_differ_for_another(tmp_path, tiny_file):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    runs = {name: (seed, tmp_path / f"{name}.csv") for name, seed in (("a", 4), ("b", 4), ("c", 5))}
    procs = {name: subprocess.Popen([sys.executable, "-m", "tui_mtl", "run", str(tiny_file), "--steps", "20",
                                     "--quiet", "--seed", str(seed), "--metrics-out", str(out)],
                                    cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
             for name, (seed, out) in runs.items()}
    for proc in procs.values():
        _out, err = proc.communicate(timeout=180)
        assert proc.returncode == 0, err

    def validation(name):
        # Train-loss rows come out on a timer (means over however many steps ran since the last one);
        # validation rows come at fixed steps, so they are what two runs can be compared on.
        with open(runs[name][1], newline="", encoding="utf-8") as handle:
            return [(row["step"], *(row[f"val_loss_{h}"] for h in HEADS), *(row[f"val_metric_{h}"] for h in HEADS))
                    for row in csv.DictReader(handle) if row["val_loss_size"]]

    a, b, c = validation("a"), validation("b"), validation("c")
    assert [row[0] for row in a] == ["10", "20"]
    assert a == b  # same seed: the same data and initial weights, so the same losses, to the last digit
    assert a[0][1:4] != c[0][1:4] and a[1][1:4] != c[1][1:4]


# --- bad input: exit 2, one line, no traceback, before TensorFlow loads --------------------


@pytest.mark.parametrize("args, expected", [
    (["run", "no-such-preset"], ["unknown preset 'no-such-preset'", "quickstart"]),
    (["run", "missing.toml"], ["missing.toml: no such preset file"]),
    (["run", "tiny.toml", "--lr", "colour=1e-3"], ["unknown head 'colour'", "size, shape, bright"]),
    (["run", "tiny.toml", "--lr", "size"], ["--lr: 'size'", "HEAD=VALUE"]),
    (["run", "tiny.toml", "--lr", "size="], ["--lr: 'size='", "HEAD=VALUE"]),
    (["run", "tiny.toml", "--lr", "size=fast"], ["'fast' is not a number"]),
    (["run", "tiny.toml", "--lr", "size=0"], ["--lr size=0", "> 0"]),
    (["run", "tiny.toml", "--lr", "size=-1e-3"], ["--lr size=-0.001", "> 0"]),
    (["run", "tiny.toml", "--lr", "trunk=0"], ["--lr trunk=0", "> 0"]),
    (["run", "tiny.toml", "--lr", "size=nan"], ["--lr: 'size=nan'", "finite"]),
    (["run", "tiny.toml", "--lr", "size=inf"], ["finite"]),
    (["run", "tiny.toml", "--weight", "shape=-1"], ["--weight shape=-1", ">= 0"]),
    (["run", "tiny.toml", "--weight", "colour=1"], ["unknown head 'colour'"]),
    (["run", "tiny.toml", "--strategy", "telepathy"], ["--strategy", "unknown strategy 'telepathy'", "summed"]),
    (["run", "tiny.toml", "--metrics-out", "x.txt"], ["--metrics-out x.txt", ".csv or .jsonl"]),
    (["run", "tiny.toml", "--metrics-out", "tiny.toml/m.csv"],
     ["--metrics-out tiny.toml/m.csv", "tiny.toml is not a folder"]),
    (["run", "tiny.toml", "--metrics-out", "tiny.toml/sub/m.csv"],
     ["--metrics-out tiny.toml/sub/m.csv", "Not a directory"]),
    (["run", "tiny.toml", "--steps", "0"], ["--steps", "positive"]),
    (["run", "tiny.toml", "--seed", "-1"], ["--seed", "-1"]),
    (["run", "bad.toml"], ["bad.toml: model.heads[0].learning_rate"]),
    (["bad.toml"], ["bad.toml: model.heads[0].learning_rate"]),
    (["nope.toml"], ["nope.toml: no such preset file"]),
    (["no-such-preset"], ["unknown preset 'no-such-preset'"]),
], ids=["unknown-preset", "missing-file", "unknown-head", "malformed", "empty-value", "non-numeric", "zero",
        "negative", "zero-trunk", "nan", "inf", "negative-weight", "weight-unknown-head", "unknown-strategy",
        "metrics-suffix", "metrics-under-file", "metrics-under-file-deep", "zero-steps", "negative-seed", "bad-preset",
        "ui-bad-preset", "ui-missing-file", "ui-unknown-name"])
def test_bad_input_exits_2_with_one_line(tmp_path, tiny_file, args, expected):
    bad = tmp_path / "bad.toml"
    bad.write_text(tiny_file.read_text().replace("learning_rate = 0.01", "learning_rate = 0.0", 1))
    result = tui_mtl(*args, cwd=tmp_path, timeout=60)
    assert_usage_error(result, *expected)
    assert not (tmp_path / "x.txt").exists()


def test_a_data_error_after_startup_is_one_line_too(tmp_path):
    preset = tiny_preset(data={"source": "npz", "params": {"path": "missing.npz"}})
    (tmp_path / "npz.toml").write_text(preset.to_toml(), encoding="utf-8")
    result = tui_mtl("run", "npz.toml", "--steps", "5", cwd=tmp_path)
    assert_usage_error(result, "npz.toml: data.params.path: no such file", "missing.npz")


def test_version(tmp_path):
    from tui_mtl import __version__

    result = tui_mtl("--version", cwd=tmp_path)
    assert result.returncode == 0 and result.stdout.strip() == f"tui-mtl {__version__}"


def test_console_script_is_installed(tmp_path):
    script = Path(sys.executable).parent / "tui-mtl"
    if not script.exists():
        script = shutil.which("tui-mtl")
    if not script:
        pytest.skip("the tui-mtl console script is not installed next to this Python")
    result = subprocess.run([str(script), "presets"], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert {line.split()[0] for line in result.stdout.splitlines()} >= set(SHIPPED)
    bad = subprocess.run([str(script), "run", "nope"], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr


def test_progress_lines_are_throttled_but_validation_and_the_end_always_print(capsys):
    from tui_mtl.cli.output import ProgressPrinter
    from tui_mtl.engine.reports import Event, Report

    def report(step, elapsed, state="running", val=None, events=()):
        return Report(step=step, target_step=100, state=state, strategy="summed",
                      train_loss={"a": 1.0 / step, "b": 2.0}, total_loss=None,
                      learning_rates={"trunk": 1e-3, "a": 1e-3, "b": 1e-3}, weights={"a": 1.0, "b": 1.0},
                      steps_per_sec=10.0, elapsed=elapsed, val_loss=val, val_metric=val, events=events)

    printer = ProgressPrinter(["a", "b"], start_step=0)
    for step in range(1, 41):  # 10 reports a second for 4 s
        printer(report(step, step / 10))
    printer(report(41, 4.1, val={"a": 0.5, "b": 0.25}))
    printer(report(42, 4.2, events=(Event(42, "lr", "a lr=0.01"),)))
    printer(report(42, 4.2, state="finished"))
    lines = capsys.readouterr().out.splitlines()
    progress = [line for line in lines if line.startswith("step ") and "/100" in line]
    assert [line.split()[1] for line in progress] == ["1/100", "6/100", "11/100", "16/100", "21/100", "26/100",
                                                      "31/100", "36/100", "41/100", "42/100"]
    assert progress[0] == "step 1/100  a 1  b 2  | 10 steps/s  ETA 0:09"
    assert progress[-2].endswith("| val a 0.5  b 0.25")
    assert "step 42: lr: a lr=0.01" in lines
