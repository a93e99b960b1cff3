"""ForkReport on a real fork: the numbers are each branch's last validation after the fork; nothing
new writes nothing; a fork whose every branch diverged has no number to compare and writes nothing."""

from __future__ import annotations

import json

from tests.conftest import tiny_preset
from tui_mtl.engine import Session, fork
from tui_mtl.ui.fork_report import ForkReport


def trained_fork(specs, steps=20):
    session = Session(tiny_preset().with_changes(training={"validate_every": 10}), report_interval=3600.0)
    session.run(10)
    comparison = fork(session, specs)
    comparison.run(steps)
    return comparison


def test_the_report_holds_each_branchs_last_validation_and_is_written_once_per_validation(tmp_path):
    comparison = trained_fork(["summed", "grouped"])
    writer = ForkReport(tmp_path, comparison.branches["summed"].preset, ["summed", "grouped"])
    page = writer.write(comparison)
    assert page == tmp_path / "report.html" and page.is_file()
    results = json.loads((tmp_path / "comparison.json").read_text())["results"]
    for name, branch in comparison.branches.items():
        steps, values = branch.history.val["size"].points()
        assert steps[-1] == 30 and results[name]["size"] == [float(values[-1])]
    assert writer.write(comparison) is None  # no validation since


def test_a_fork_whose_every_branch_diverged_writes_no_report(tmp_path):
    rates = {"trunk": 1e30, "size": 1e30, "shape": 1e30, "bright": 1e30}
    comparison = trained_fork([{"strategy": "summed", "lr": rates}, {"strategy": "summed", "lr": rates,
                                                                     "name": "again"}])
    assert set(comparison.diverged) == set(comparison.branches)
    writer = ForkReport(tmp_path, comparison.branches["summed"].preset, ["summed", "again"])
    assert writer.write(comparison) is None
    assert not (tmp_path / "report.html").exists()
