"""`tui-mtl compare --seeds N`: end to end on the real engine, and the seed plans."""

import json

import pytest

from tests.conftest import tiny_preset
from tui_mtl import load_preset
from tui_mtl.cli import main
from tui_mtl.cli.seeds import seed_plans


def test_the_same_strategy_twice_is_no_difference_on_every_head(tmp_path, capsys):
    """The validity check a user can run: identical branches must never 'win'."""
    preset_file = tmp_path / "tiny.toml"
    preset_file.write_text(tiny_preset().to_toml())
    code = main(["compare", str(preset_file), "--strategies", "summed,summed", "--seeds", "3", "--steps", "15",
                 "--quiet", "--runs-dir", str(tmp_path / "runs")])
    out = capsys.readouterr().out
    assert code == 0
    verdict = [line.strip() for line in out.split("verdict:")[1].splitlines() if line.startswith("  ")]
    assert [line.split(":")[0] for line in verdict] == ["size", "shape", "bright"]  # no test: no footnote
    assert all("no difference between summed and summed-2 (identical on all 3 seeds)" in line for line in verdict)
    (run,) = (tmp_path / "runs").iterdir()
    data = json.loads((run / "comparison.json").read_text())
    assert data["seeds"] == [0, 1, 2] and set(data["results"]) == {"summed", "summed-2"}
    values = data["results"]["summed"]["size"]
    assert len(set(values)) == 3  # the seeds differ (their initial weights)...
    assert data["results"]["summed-2"]["size"] == values  # ...and within a seed the branches are in lockstep
    for seed in (0, 1, 2):
        assert (run / f"seed-{seed}" / "branches" / "summed-2" / "checkpoint.npz").is_file()
    page = (run / "report.html").read_text()  # the report: every head and strategy, nothing fetched
    assert all(f"<h2>{head}</h2>" in page for head in ("size", "shape", "bright"))
    assert page.count("<svg") == 6 and "summed-2" in page and "identical on all 3 seeds" in page
    assert "<script" not in page and "<link" not in page and "src=" not in page
    assert "tui-mtl compare " in page and "--seeds 3" in page  # the command that reproduces it
    assert main(["report", str(run), "--format", "md"]) == 0  # rebuilt from the folder, as Markdown + PNGs
    markdown = (run / "report" / "report.md").read_text()
    assert "![size: validation loss](0-curves.png)" in markdown
    assert (run / "report" / "2-differences.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert main(["report", str(run / "seed-0" / "branches" / "summed")]) == 2  # a branch is no comparison


def test_grouped_beats_summed_on_the_small_head_of_imbalanced_scales_over_seeds(tmp_path, capsys):
    """The other validity check: the known effect (Adam under summed starves the small loss) is found,
    with its sign and significance; the large head shows no effect either way."""
    code = main(["compare", "imbalanced-scales", "--strategies", "summed,grouped", "--seeds", "3",
                 "--steps", "150", "--quiet", "--runs-dir", str(tmp_path / "runs")])
    out = capsys.readouterr().out
    assert code == 0
    (run,) = (tmp_path / "runs").iterdir()
    data = json.loads((run / "comparison.json").read_text())
    (x,) = [d for d in data["differences"] if d["head"] == "x"]
    assert (x["a"], x["b"]) == ("summed", "grouped")
    assert x["mean"] > 0 and x["low"] > 0 and x["p_adjusted"] < 0.05  # summed's loss is higher, surely
    assert x["a_lower"] == 0  # on every seed
    assert "x: grouped beats summed (" in out and "lower on 3/3 seeds" in out
    assert "Benjamini-Hochberg" in out


def test_seeds_vary_what_is_asked_and_nothing_else():
    preset = load_preset("quickstart")
    base = preset.data.seed
    init = seed_plans(preset, 3, ("init",))
    assert [p.init_seed for p in init] == [base, base + 1, base + 2]
    assert all(p.preset == preset for p in init)  # same split, same order
    order = seed_plans(preset, 2, ("order",))
    assert [p.init_seed for p in order] == [base, base]
    assert [p.preset.data.order_seed for p in order] == [base, base + 1]
    assert all(p.preset.data.seed == base for p in order)
    split = seed_plans(preset, 2, ("split", "init"))
    assert [p.preset.data.seed for p in split] == [base, base + 1] and split[1].init_seed == base + 1


@pytest.mark.parametrize("args, expected", [
    (["--seeds", "0"], "--seeds: must be a positive whole number"),
    (["--seeds", "3", "--vary", "init,colour"], "--vary: 'init,colour': choose from init, order, split"),
])
def test_bad_seed_options_are_one_line(args, expected, capsys):
    assert main(["compare", "quickstart", "--strategies", "summed,grouped", *args]) == 2
    err = capsys.readouterr().err
    assert expected in err and len(err.strip().splitlines()) == 1


def test_window_compares_the_mean_of_the_last_validations_each_branch_recorded(tmp_path, capsys):
    """--window 3 over 30 steps validated every 10: each value is the mean of the branch's own
    validations at steps 10, 20 and 30, as its metrics.csv recorded them."""
    import csv

    preset_file = tmp_path / "tiny.toml"
    preset_file.write_text(tiny_preset().to_toml())
    code = main(["compare", str(preset_file), "--strategies", "summed,grouped", "--seeds", "2", "--steps", "30",
                 "--window", "3", "--quiet", "--runs-dir", str(tmp_path / "runs")])
    out = capsys.readouterr().out
    assert code == 0
    assert "mean validation loss over the last 3 validations over 2 seeds" in out
    (run,) = (tmp_path / "runs").iterdir()
    data = json.loads((run / "comparison.json").read_text())
    assert data["window"] == 3 and data["metric"] == "mean validation loss over the last 3 validations"
    for strategy in ("summed", "grouped"):
        for i, seed in enumerate(data["seeds"]):
            with open(run / f"seed-{seed}" / "branches" / strategy / "metrics.csv", newline="") as f:
                rows = [row for row in csv.DictReader(f) if row["val_loss_size"]]
            assert [int(row["step"]) for row in rows][-3:] == [10, 20, 30]
            for head in ("size", "shape", "bright"):
                expected = sum(float(row[f"val_loss_{head}"]) for row in rows[-3:]) / 3
                assert data["results"][strategy][head][i] == pytest.approx(expected, rel=1e-5)
    assert "seed-matched log-ratios of the mean validation loss over the last 3 validations;" in out
    assert "Mean validation loss over the last 3 validations" in (run / "report.html").read_text()


@pytest.mark.parametrize("args, expected", [
    (["--window", "2"], "--window averages what --seeds compares: add --seeds N"),
    (["--seeds", "2", "--window", "4", "--steps", "30"],
     "--window 4: a branch has only 3 validation(s) after the fork (30 steps, validate_every = 10, the final "
     "one included); lower --window or use --steps 31"),
])
def test_a_window_that_cannot_be_filled_is_one_line(args, expected, tmp_path, capsys):
    preset_file = tmp_path / "tiny.toml"
    preset_file.write_text(tiny_preset().to_toml())
    assert main(["compare", str(preset_file), "--strategies", "summed,grouped", *args]) == 2
    err = capsys.readouterr().err
    assert expected in err and len(err.strip().splitlines()) == 1


def test_sigterm_stops_compare_over_seeds_and_reports_only_the_seeds_that_finished(tmp_path):
    """The seed under way when the signal comes is left out (its branches did not reach the same
    step), no later seed starts, and the report holds the finished ones."""
    import os
    import signal
    import subprocess
    import sys

    preset_file = tmp_path / "tiny.toml"
    preset_file.write_text(tiny_preset().to_toml())
    proc = subprocess.Popen([sys.executable, "-m", "tui_mtl", "compare", str(preset_file), "--strategies",
                             "summed,grouped", "--seeds", "6", "--steps", "400", "--quiet", "--runs-dir",
                             str(tmp_path / "runs")], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        assert proc.stdout is not None
        for line in proc.stdout:  # the first seed finished: stop during the second
            if line.startswith("seed "):
                break
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    assert "SIGTERM: stopping at the next step" in err
    (run,) = (tmp_path / "runs").iterdir()
    data = json.loads((run / "comparison.json").read_text())
    finished = data["seeds"]
    assert 1 <= len(finished) < 6 and finished == list(range(len(finished)))
    assert f"stopped: {len(finished)} seed(s) finished; the one under way is left out" in out
    assert all(len(values) == len(finished) for by_head in data["results"].values() for values in by_head.values())
    assert not (run / f"seed-{len(finished) + 1}").exists()  # no seed started after the stop
    assert (run / "report.html").is_file()
