"""Launch to first trained step: `tui-mtl PRESET` in a real terminal (a private tmux server), the
screen read every 20 ms until it shows the first frame, then the state badge saying LOADING
(TensorFlow imports), COMPILING and RUNNING with a train loss in the head table. Target (issue 16): first trained
step within 5 s on quickstart.

    python benchmarks/bench_startup.py [--preset quickstart] [--repeats 3] [--size 120x40]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SOCKET = f"tui-mtl-bench-startup-{os.getpid()}"
# a head table row with a number in the train column: "shape  xent  1  1e-03  0.9950 ..."
TRAIN_VALUE = re.compile(r"^ \w+\s+\S+\s+[\d.]+\s+[\d.e+-]+\s+\d+\.\d+", re.MULTILINE)


def tmux(*args: str) -> str:
    return subprocess.run(["tmux", "-L", SOCKET, *args], capture_output=True, text=True).stdout


def trained(screen: str) -> bool:
    """RUNNING, and a head's train loss on screen (not the '—' of no value yet)."""
    return "RUNNING" in screen and TRAIN_VALUE.search(screen) is not None


def launch_once(preset: str, size: str, timeout: float) -> dict[str, float]:
    width, height = size.split("x")
    script = Path(sys.executable).parent / "tui-mtl"
    with tempfile.TemporaryDirectory() as home:
        env = f"TUI_MTL_RUNS_DIR={home}/runs TUI_MTL_CONFIG_DIR={home}/cfg TUI_MTL_PRESETS_DIR={home}/presets"
        started = time.perf_counter()
        tmux("new-session", "-d", "-s", "bench", "-x", width, "-y", height, f"env {env} {script} {preset}")
        marks: dict[str, float] = {}
        try:
            while time.perf_counter() - started < timeout:
                screen = tmux("capture-pane", "-p", "-t", "bench")
                now = time.perf_counter() - started
                if "tui-mtl" in screen:
                    marks.setdefault("first frame", now)
                for badge in ("LOADING", "COMPILING"):
                    if badge in screen:
                        marks.setdefault(badge.lower(), now)
                if trained(screen):
                    marks["first trained step"] = now
                    break
                time.sleep(0.02)
        finally:
            tmux("send-keys", "-t", "bench", "q")
            time.sleep(1.0)
            tmux("kill-server")
    return marks


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="quickstart")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--size", default="120x40")
    parser.add_argument("--timeout", type=float, default=60.0)
    args = parser.parse_args()
    if shutil.which("tmux") is None:
        print("bench_startup: needs tmux (apt-get install -y tmux)")
        return 1
    runs = []
    for i in range(args.repeats):
        marks = launch_once(args.preset, args.size, args.timeout)
        runs.append(marks)
        print(f"run {i + 1}: " + ", ".join(f"{name} {t:.2f} s" for name, t in marks.items()), flush=True)
    for name in ("first frame", "loading", "compiling", "first trained step"):
        values = [m[name] for m in runs if name in m]
        if values:
            print(f"{name:<20} median {statistics.median(values):.2f} s over {len(values)} of {len(runs)}")
    return 0 if all("first trained step" in m for m in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
