"""Forks: exact copies, shared batches, independent branches, and the effect the user came to see."""

import numpy as np
import pytest

from tests.conftest import tiny_preset
from tui_mtl import load_preset
from tui_mtl.engine import Session, State, fork
from tui_mtl.errors import CommandError


def arrays(variables) -> list:
    return [np.array(v.numpy() if hasattr(v, "numpy") else v) for v in variables]


def state(session) -> dict:
    return session.capture().arrays


def test_branches_start_as_exact_copies_of_weights_and_optimizer_state(tiny):
    parent = Session(tiny)
    parent.run(6)
    parent.set_strategy("grouped+uncertainty")
    parent.run(4)  # the parent now has state for two strategies
    comparison = parent.fork(["summed", "grouped+uncertainty", "pcgrad"])
    weights = arrays(parent.model.weights)
    expected = state(parent)
    summed = [v for k, v in expected.items() if k.startswith("strategy/summed/")]
    assert summed and any(np.any(v) for v in summed)  # the copied state is not trivially zero
    for name, branch in comparison.branches.items():
        assert all(np.array_equal(a, b) for a, b in zip(arrays(branch.model.weights), weights)), name
        copied = state(branch)
        for key, value in expected.items():
            assert np.array_equal(copied[key], value), (name, key)
        assert branch.step_count == parent.step_count == 10
        assert branch.strategy == name


def test_two_branches_with_the_same_strategy_stay_identical_step_for_step(tiny):
    parent = Session(tiny.with_changes(data={"shuffle": True}))
    parent.run(5)
    comparison = parent.fork(["grouped", "grouped"])
    assert list(comparison.branches) == ["grouped", "grouped-2"]
    a, b = comparison.branches.values()
    for _ in range(4):
        comparison.run(3)
        sa, sb = state(a), state(b)
        assert sa.keys() == sb.keys() and all(np.array_equal(sa[k], sb[k]) for k in sa)
    assert a.step_count == 17
    # and a different strategy really does diverge from them
    other = parent.fork(["grouped", "summed"])
    other.run(5)
    g, s = other.branches.values()
    assert max(np.max(np.abs(x - y)) for x, y in zip(arrays(g.model.weights), arrays(s.model.weights))) > 1e-4


def test_branches_are_independent(tiny):
    comparison = Session(tiny).fork([
        {"strategy": "summed", "lr": {"size": 0.005}},
        {"strategy": "summed", "weight": {"shape": 3.0}, "name": "heavy-shape"},
    ])
    plain, heavy = comparison.branches["summed"], comparison.branches["heavy-shape"]
    assert plain.learning_rates["size"] == 0.005 and heavy.learning_rates["size"] == 0.01
    assert heavy.weights["shape"] == 3.0 and plain.weights["shape"] == 0.7
    reports = []
    comparison.subscribe(reports.append)
    comparison.run(4)
    heavy.set_lr("bright", 0.002)  # after a run: applied at once, to that branch only
    assert plain.learning_rates["bright"] == 0.01
    assert all(set(r) == {"summed", "heavy-shape"} for r in reports)
    assert reports[-1]["heavy-shape"].weights["shape"] == 3.0
    kinds = [e.kind for e in heavy.events]
    assert kinds[:2] == ["weight", "fork"] or "fork" in kinds


def test_drop_a_branch_and_bad_forks(tiny):
    session = Session(tiny)
    comparison = session.fork(["summed", "grouped"])
    comparison.drop("grouped")
    assert list(comparison.branches) == ["summed"]
    with pytest.raises(CommandError, match="last branch"):
        comparison.drop("summed")
    with pytest.raises(CommandError, match="unknown branch"):
        comparison.drop("nope")
    with pytest.raises(CommandError, match="unknown strategy"):
        session.fork(["sideways"])
    with pytest.raises(CommandError, match="unknown head"):
        session.fork([{"strategy": "summed", "lr": {"nope": 1e-3}}])
    with pytest.raises(CommandError, match=r"needs about \d+ MiB .* 3 branch"):
        fork(session, ["summed", "grouped", "pcgrad"], free_memory=1024)
    # placed on two devices, three branches need two branches' memory on the first (checked per device)
    two = session.stepper.fork_bytes() * 2
    with pytest.raises(CommandError, match=r"of memory on CPU:0 for 2 branch\(es\)"):
        fork(session, ["summed", "grouped", "pcgrad"], free_memory=two - 1, devices=["/device:CPU:0", "/device:CPU:1"])


def test_grouped_beats_summed_on_the_small_head_of_imbalanced_scales():
    """The effect the question is about: with Adam, the small loss learns under grouped, not summed."""
    preset = load_preset("imbalanced-scales").with_changes(training={"diagnostics_every": 0, "batch_size": 32})
    parent = Session(preset)
    parent.run(50)
    comparison = parent.fork(["summed", "grouped"])
    comparison.run(700)
    val = {name: branch.validate()[0] for name, branch in comparison.branches.items()}
    assert val["grouped"]["x"] < 0.7 * val["summed"]["x"]


def test_compare_command_prints_per_branch_rows_and_writes_branch_columns(tmp_path):
    import csv
    import subprocess
    import sys

    preset_file = tmp_path / "tiny.toml"
    preset_file.write_text(tiny_preset().to_toml())
    out = tmp_path / "cmp.csv"
    result = subprocess.run(
        [sys.executable, "-m", "tui_mtl", "compare", str(preset_file), "--strategies", "summed,grouped",
         "--steps", "20", "--warmup", "10", "--metrics-out", str(out), "--runs-dir", str(tmp_path / "runs")],
        capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    progress = [line for line in lines if line.startswith("step ") and int(line.split()[1].split("/")[0]) > 10]
    assert progress and all("summed: size " in line and "grouped: size " in line and "bright " in line
                            for line in progress)  # every loss named by its head and branch
    for head in ("size", "shape", "bright"):
        for branch in ("summed", "grouped"):
            assert any(line.split()[:2] == [head, branch] for line in lines), (head, branch)
    header = next(line for line in lines if line.startswith("head"))
    assert header.split() == ["head", "branch", "train", "loss", "best", "train", "val", "loss", "val", "metric",
                              "best", "val"]  # every column is labelled
    assert sum(line.rstrip().endswith("*") for line in lines) == 3  # one best branch per head
    assert any(line.startswith("grouped: 20 steps at") for line in lines)
    (run,) = (tmp_path / "runs").iterdir()  # a run folder, with a folder per branch
    assert {p.name for p in (run / "branches").iterdir()} == {"summed", "grouped"}
    assert (run / "branches" / "grouped" / "checkpoint.npz").is_file()
    # its report: the table's final validation losses, each branch's curves, and how to get a verdict
    import json

    data = json.loads((run / "comparison.json").read_text())
    assert data["seeds"] == [0] and data["branches"] == "branches"
    for head in ("size", "shape", "bright"):
        for branch in ("summed", "grouped"):
            row = next(line.split() for line in lines if line.split()[:2] == [head, branch])
            assert data["results"][branch][head] == [pytest.approx(float(row[4]), rel=2e-3)]
    page = (run / "report.html").read_text()
    assert f"report: {run / 'report.html'}" in result.stdout
    assert "summed, grouped on one seed (0)" in page and "one seed, no test" in page and "--seeds 5" in page
    assert page.count("<svg") == 6 and "--warmup 10" in page
    rows = list(csv.DictReader(out.open()))
    assert rows and int(rows[-1]["step"]) == 30
    assert {"summed:loss_size", "grouped:loss_size", "grouped:val_loss_bright"} <= set(rows[0])
    assert rows[-1]["grouped:strategy"] == "grouped"
    assert float(rows[-1]["summed:loss_shape"]) > 0
    # a branch is a run of its own: it resumes where the comparison left it, as the strategy it was
    from tui_mtl.cli import main
    from tui_mtl.engine.checkpoint import read_meta

    branch = run / "branches" / "grouped"
    assert main(["resume", str(branch), "--steps", "5", "--quiet"]) == 0
    assert read_meta(branch / "checkpoint.npz")["step"] == 35
    assert read_meta(branch / "checkpoint.npz")["strategy"] == "grouped"


def test_compare_command_refuses_an_unknown_strategy(tmp_path):
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-m", "tui_mtl", "compare", "quickstart", "--strategies",
                             "summed,sideways"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert "unknown strategy 'sideways'" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_diverged_branch_stops_is_never_best_and_the_others_go_on():
    """compare with one branch at a huge rate: that branch stops (diverged), run() returns, the
    others train to the end, and no NaN is starred."""
    from tui_mtl.cli.tables import best_branch, comparison_table

    parent = Session(tiny_preset(training={"diagnostics_every": 0}))
    parent.run(5)
    comparison = parent.fork(["summed", {"strategy": "summed", "lr": {"trunk": 1e30, "size": 1e30}, "name": "wild"}])
    final = comparison.run(40)
    assert set(comparison.diverged) == {"wild"}
    assert final["wild"].state is State.FAULTED and final["wild"].fault is not None
    assert comparison.branches["summed"].step_count == 45  # the healthy branch went to the end
    assert comparison.branches["wild"].step_count < 45
    results = {name: branch.validate() for name, branch in comparison.branches.items()}
    assert best_branch(results, "size", set(comparison.diverged)) is None  # one live branch: no star
    table = comparison_table(comparison, results)
    wild_rows = [line for line in table.splitlines() if line.split()[1:2] == ["wild"]]
    assert wild_rows and all("diverged at step" in line and "*" not in line for line in wild_rows)


def test_a_nan_result_is_never_the_best():
    from tui_mtl.cli.tables import best_branch

    nan = float("nan")
    results = {"a": ({"x": nan}, {"x": 0.0}), "b": ({"x": 2.0}, {"x": 0.0}), "c": ({"x": 3.0}, {"x": 0.0})}
    assert best_branch(results, "x", set()) == "b"
    assert best_branch(results, "x", {"b"}) is None or best_branch(results, "x", {"b"}) == "c"


def test_when_every_branch_diverges_run_returns_faulted(tiny):
    parent = Session(tiny.with_changes(training={"diagnostics_every": 0}))
    wild = {"trunk": 1e12, "size": 1e12, "shape": 1e12, "bright": 1e12}  # grouped uses the heads' rates
    comparison = parent.fork([{"strategy": s, "lr": wild} for s in ("summed", "grouped")])
    final = comparison.run(200)
    assert all(r.state is State.FAULTED for r in final.values())
    assert comparison.state is State.FAULTED and comparison.step_count < 200


def test_a_comparison_rewinds_every_branch_to_one_step():
    parent = Session(tiny_preset(training={"diagnostics_every": 0}), snapshot_every=5)
    parent.run(3)
    comparison = parent.fork(["summed", "grouped"])
    comparison.run(12)  # snapshots at the fork (3) and every 5 steps (5, 10, 15)
    before = {name: state(branch) for name, branch in comparison.branches.items()}
    comparison.branches["grouped"].set_lr("size", 1e12)  # a snapshot of every branch, before the change
    comparison.run(20)
    assert "grouped" in comparison.diverged
    comparison.rewind()
    assert comparison.step_count == 15 and not comparison.diverged
    for name, branch in comparison.branches.items():
        assert branch.step_count == 15
        after = state(branch)
        assert all(np.array_equal(after[k], v) for k, v in before[name].items()), name
    assert comparison.branches["grouped"].learning_rates["size"] == 0.01  # the change is undone
    comparison.run(5)
    assert not comparison.diverged and comparison.branches["grouped"].step_count == 20
