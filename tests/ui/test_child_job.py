"""ChildJob on a real child (`tui-mtl strategies`, no TensorFlow): every line reaches `line()`, and a
line that cannot be handled still ends in `finished()` with the reason, never a silent wait."""

from __future__ import annotations

import threading

from tests.conftest import tiny_preset
from tui_mtl.ui.child_job import ChildJob


class Strategies(ChildJob):
    kind = "test"

    def __init__(self, tmp_path, fail_on: str | None = None):
        super().__init__(lambda _message: None, tiny_preset(), None, run_dir=tmp_path)
        self.lines: list[str] = []
        self.ended = threading.Event()
        self.fail_on = fail_on

    def arguments(self) -> list[str]:
        return ["strategies"]

    def line(self, text: str) -> None:
        if self.fail_on is not None and self.fail_on in text:
            raise ValueError(f"cannot read {text!r}")
        self.lines.append(text)

    def finished(self, code: int, error: str) -> None:
        self.code, self.error = code, error
        self.ended.set()


def test_every_line_of_the_child_is_followed_and_kept_in_the_job_folder(tmp_path):
    job = Strategies(tmp_path)
    job.start()
    assert job.ended.wait(60)
    assert job.code == 0 and job.error == ""
    printed = (tmp_path / "jobs" / "test-1" / "output.log").read_text().splitlines()
    assert job.lines == printed and any(line.strip().startswith("grouped ") for line in printed)
    assert Strategies(tmp_path).folder.name == "test-2"  # the next job's folder is its own


def test_a_line_that_cannot_be_handled_ends_the_job_with_the_reason(tmp_path):
    job = Strategies(tmp_path, fail_on="grouped")
    job.start()
    assert job.ended.wait(60)
    assert job.code == 0
    assert job.error.startswith("reading the job's output failed: ValueError: cannot read")
