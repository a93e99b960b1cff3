"""`tui-mtl sweep`: Optuna over per-head rates, on the real engine."""

import subprocess
import sys

import optuna
import pytest

from tests.conftest import tiny_preset
from tui_mtl.cli import main
from tui_mtl.engine import Session
from tui_mtl.presets import load_preset

STEPS = 30


@pytest.fixture
def preset_file(tmp_path):
    path = tmp_path / "tiny.toml"
    path.write_text(tiny_preset(training={"validate_every": 10}).to_toml())
    return path


def load(storage: str, name: str):
    return optuna.load_study(study_name=name, storage=storage)


def test_a_study_searches_the_ranges_prunes_and_its_best_value_is_what_training_gives(preset_file, tmp_path, capsys):
    storage = f"sqlite:///{tmp_path / 'sweep.db'}"
    code = main(["sweep", str(preset_file), "--lr", "size=1e-4:1.0", "--lr", "trunk=1e-4:1e-1", "--trials", "8",
                 "--steps", str(STEPS), "--sampler-seed", "1", "--storage", storage, "--study", "s", "--save", "best"])
    out = capsys.readouterr().out
    assert code == 0
    study = load(storage, "s")
    assert len(study.trials) == 8
    for t in study.trials:
        assert 1e-4 <= t.params["lr:size"] <= 1.0 and 1e-4 <= t.params["lr:trunk"] <= 1e-1
    states = {t.state.name for t in study.trials}
    assert "COMPLETE" in states and "PRUNED" in states  # the median pruner stopped some trials early
    pruned = [t for t in study.trials if t.state.name == "PRUNED"]
    assert all(max(t.intermediate_values) < STEPS for t in pruned)
    best = study.best_trial
    assert f"best: trial {best.number}" in out and f"--lr size={best.params['lr:size']:.3g}" in out
    # the best value is what a fresh session trained with those rates reaches (trials start from scratch)
    preset = tiny_preset(training={"validate_every": 10})
    fresh = Session(preset)
    fresh.set_lr("size", best.params["lr:size"])
    fresh.set_lr("trunk", best.params["lr:trunk"])
    fresh.run(STEPS)
    val_loss, _ = fresh.validate()
    expected = sum(fresh.weights[h] * val_loss[h] for h in val_loss)
    assert best.value == pytest.approx(expected, rel=1e-5)
    # its run folder: every trial in sweep.json, and a report (best in bold) that `report` rebuilds
    import json
    import os
    from pathlib import Path

    (run,) = Path(os.environ["TUI_MTL_RUNS_DIR"]).iterdir()
    data = json.loads((run / "sweep.json").read_text())
    assert [(t["number"], t["state"]) for t in data["trials"]] == [(t.number, t.state.name) for t in study.trials]
    assert data["front"] == [best.number] and data["names"] == ["lr:size", "lr:trunk"]
    page = (run / "report.html").read_text()
    assert f"report: {run / 'report.html'}" in out
    assert page.count("<tr") == 1 + 8 and page.count("<tr class='win'><td>" + str(best.number) + "</td>") == 1
    assert "<svg" in page and "<script" not in page and "src=" not in page and "--sampler-seed 1" in page
    (run / "report.html").unlink()
    assert main(["report", str(run)]) == 0 and (run / "report.html").read_text() == page
    assert main(["report", str(run), "--format", "md"]) == 0  # Markdown + PNGs, the same table
    markdown = (run / "report" / "report.md").read_text()
    assert markdown.count("\n| ") == 2 + 8  # the header, its rule, a row per trial
    assert markdown.count(f"| **{best.number}** |") == 1
    assert "![Objective](0-objective.png)" in markdown and "--sampler-seed 1" in markdown
    assert (run / "report" / "1-settings.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    saved = load_preset("best")  # --save: the best trial's rates as a user preset
    assert saved.model.head("size").learning_rate == pytest.approx(best.params["lr:size"])
    assert saved.training.trunk_learning_rate == pytest.approx(best.params["lr:trunk"])


def test_two_processes_share_one_sqlite_study(preset_file, tmp_path):
    storage = f"sqlite:///{tmp_path / 'shared.db'}"
    command = [sys.executable, "-m", "tui_mtl", "sweep", str(preset_file), "--lr", "shape=1e-4:1e-1",
               "--trials", "6", "--steps", "20", "--storage", storage, "--study", "shared"]
    optuna.create_study(study_name="shared", storage=storage, direction="minimize")  # created once, before both
    workers = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outputs = [w.communicate(timeout=300) for w in workers]
    assert [w.returncode for w in workers] == [0, 0], [err[-2000:] for _, err in outputs]
    study = load(storage, "shared")
    assert 6 <= len(study.trials) <= 7  # the cap counts both processes (one may start as the other ends)
    assert len({t.user_attrs["process"] for t in study.trials}) == 2  # both took part


@pytest.mark.parametrize("args, expected", [
    (["--lr", "nope=1e-3:1e-2"], "--lr nope=0.001:0.01: unknown head 'nope'"),
    (["--lr", "size=1e-2:1e-3"], "need 0 < LOW < HIGH"),
    (["--lr", "size=-1:1e-3"], "'size=-1:1e-3': LOW: must be a finite number > 0, got '-1'"),
    (["--lr", "size=1e-4:inf"], "HIGH: must be a finite number > 0, got 'inf'"),
    (["--lr", "size=0.01"], "expected HEAD=LOW:HIGH"),
    ([], "name something to search"),
    (["--strategy", "grouped", "--lr", "trunk=1e-4:1e-2"], "no trunk rate to search"),
    (["--lr", "size=1e-4:1e-2", "--objective", "area"], "--objective area: unknown head"),
    (["--lr", "size=1e-4:1e-2", "--objective", "pareto", "--save", "x"], "a Pareto sweep has no single best trial"),
])
def test_bad_sweeps_are_one_line(args, expected, preset_file, capsys):
    assert main(["sweep", str(preset_file), *args]) == 2
    err = capsys.readouterr().err
    assert expected in err and len(err.strip().splitlines()) == 1


def test_trials_that_diverge_fail_with_their_reason_and_the_sweep_ends(preset_file, capsys):
    code = main(["sweep", str(preset_file), "--lr", "trunk=1e25:1e30", "--trials", "2", "--steps", "20"])
    out = capsys.readouterr().out
    assert code == 0
    failed = [line for line in out.splitlines() if line.startswith("trial ")]
    assert len(failed) == 2 and all(": failed: step " in line and "non-finite" in line for line in failed)
    assert "2 trials: 0 complete, 0 pruned, 2 failed (diverged)" in out and "no trial completed" in out


def test_a_pareto_sweep_answers_with_the_trials_no_other_beats_on_every_head(preset_file, capsys):
    import json
    import os
    from pathlib import Path

    code = main(["sweep", str(preset_file), "--lr", "size=1e-4:1e-1", "--lr", "shape=1e-4:1e-1", "--trials", "5",
                 "--steps", "20", "--objective", "pareto", "--sampler-seed", "3"])
    out = capsys.readouterr().out
    assert code == 0
    (run,) = Path(os.environ["TUI_MTL_RUNS_DIR"]).iterdir()
    data = json.loads((run / "sweep.json").read_text())
    heads = data["heads"]
    assert heads == ["size", "shape", "bright"] and data["pareto"]
    done = [t for t in data["trials"] if t["state"] == "COMPLETE"]
    assert len(done) == 5  # no pruning with several objectives
    for t in done:  # the objectives are each head's final validation loss
        assert t["values"] == [pytest.approx(t["val_loss"][h]) for h in heads]

    def dominated(t):
        return any(all(o <= v for o, v in zip(other["values"], t["values"])) and other["values"] != t["values"]
                   for other in done)
    front = sorted(t["number"] for t in done if not dominated(t))
    assert sorted(data["front"]) == front  # Optuna's front is the non-dominated set
    printed = [line for line in out.splitlines() if line.startswith("trial ") and ": tui-mtl run " in line]
    assert sorted(int(line.split()[1].rstrip(":")) for line in printed) == front
    assert f"Pareto front: {len(front)} trial(s)" in out
    page = (run / "report.html").read_text()
    assert "Pareto front" in page and page.count("<tr class='win'>") == len(front)


def test_joining_a_study_with_another_number_of_objectives_is_one_line_and_no_run_folder(preset_file, tmp_path,
                                                                                      capsys):
    storage = f"sqlite:///{tmp_path / 'one.db'}"
    optuna.create_study(study_name="mine", storage=storage, direction="minimize")
    optuna.create_study(study_name="front", storage=storage, directions=["minimize"] * 3)
    for objective, study, expected in (
            ("pareto", "mine", "study 'mine' in " + storage + " has one objective; this sweep has 3 objectives "
                               "(a Pareto sweep): name another study with --study"),
            ("size", "front", "study 'front' in " + storage + " has 3 objectives (a Pareto sweep); this sweep has "
                              "one objective: name another study with --study")):
        code = main(["sweep", str(preset_file), "--lr", "size=1e-3:1e-1", "--trials", "2", "--steps", "10",
                     "--objective", objective, "--storage", storage, "--study", study, "--runs-dir",
                     str(tmp_path / "runs")])
        err = capsys.readouterr().err
        assert code == 2 and expected in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())
    assert [len(load(storage, name).trials) for name in ("mine", "front")] == [0, 0]


def test_the_default_study_name_says_which_objective(preset_file, tmp_path, capsys):
    storage = f"sqlite:///{tmp_path / 'names.db'}"
    for extra in ([], ["--objective", "pareto"]):
        assert main(["sweep", str(preset_file), "--lr", "size=1e-3:1e-1", "--trials", "1", "--steps", "10",
                     "--storage", storage, "--no-record", *extra]) == 0
    capsys.readouterr()
    names = sorted(s.study_name for s in optuna.get_all_study_summaries(storage))
    assert len(names) == 2 and names[1] == names[0] + "-pareto"


def test_a_trial_is_never_pruned_at_its_last_step():
    """Its work is done by then: a worse-than-median value at the final report completes the trial
    (a sweep of one report per trial prunes nothing)."""
    from tui_mtl.sweep.space import Range
    from tui_mtl.sweep.study import SweepSpec, open_study, run_study

    session = Session(tiny_preset(training={"validate_every": 10}), report_interval=3600.0)
    spec = SweepSpec(lrs=[Range("size", 1e-6, 1e-1), Range("trunk", 1e-6, 1e-1)], steps=10, trials=4)
    study = open_study(spec, list(session.head_names))
    for rate in (3e-2, 3e-2, 1e-6):  # the third is far worse than the median of the first two
        study.enqueue_trial({"lr:size": rate, "lr:trunk": rate})
    run_study(session, spec, study)
    assert [t.state.name for t in study.trials] == ["COMPLETE"] * 4  # the cap counts the waiting ones too
    assert study.trials[2].value > max(study.trials[0].value, study.trials[1].value)


def test_a_bar_in_a_markdown_cell_stays_in_its_cell():
    from tui_mtl.report.markdown import markdown_table

    table = markdown_table([["trial", "outcome"], ["3", "failed: a | b"]])
    assert table.splitlines()[2] == "| 3 | failed: a \\| b |"
