"""UI soak: the dashboard training in a real terminal (tmux) for a while; memory and frame time sampled.

Starts `tui-mtl` on quickstart with a very long run inside tmux, samples the process's RSS every
`--every` seconds for `--minutes`, reads steps/s off the screen, then quits with `q` and checks the
process is gone. Target (issue 7): memory flat (RSS at the end within 50 MB of RSS after the first
minute) and frame time flat.

Frame time: Textual has no public hook, so the app runs through this script's `--child` mode,
which wraps `Screen._on_timer_update` (one frame: layout, widget renders including the plotext
builds, compositor, write to the terminal) and logs the frames' count and percentiles for each
interval. The product itself is not instrumented.

    python benchmarks/soak_ui.py [--minutes 30] [--every 15]
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tui_mtl.presets import load_preset  # noqa: E402


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


TMUX = ["tmux", "-L", "tui-mtl-soak"]  # a server of its own: nobody else's `kill-server` ends the soak


def app_pid(session: str) -> int | None:
    pane_pid = subprocess.run([*TMUX, "display-message", "-p", "-t", session, "#{pane_pid}"],
                              capture_output=True, text=True).stdout.strip()
    return int(pane_pid) if pane_pid.isdigit() else None


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def run_instrumented_app(frame_log: Path, every: float, argv: list[str]) -> None:
    """The app with every frame timed; a thread appends one JSON line of frame stats per interval."""
    import collections
    import gc
    import threading

    from textual.screen import Screen

    frames: collections.deque = collections.deque()
    original = Screen._on_timer_update

    def timed_frame(self):
        started = time.perf_counter()
        original(self)
        frames.append(time.perf_counter() - started)

    Screen._on_timer_update = timed_frame
    # full garbage collections stop every thread: count them and their longest pause
    collections_ = collections.deque()
    gc_started = {}

    def on_gc(phase, info):
        if info["generation"] == 2:
            if phase == "start":
                gc_started["t"] = time.perf_counter()
            elif "t" in gc_started:
                collections_.append(time.perf_counter() - gc_started.pop("t"))

    gc.callbacks.append(on_gc)

    def log_frames():
        while True:
            time.sleep(every)
            batch = [frames.popleft() for _ in range(len(frames))]
            pauses = [1000 * collections_.popleft() for _ in range(len(collections_))]
            ms = [1000 * d for d in batch]
            line = {"t": time.time(), "frames": len(ms), "p50": percentile(ms, 0.5), "p95": percentile(ms, 0.95),
                    "max": max(ms, default=float("nan")), "full_gcs": len(pauses),
                    "gc_max": max(pauses, default=0.0)}
            with frame_log.open("a") as handle:
                handle.write(json.dumps(line) + "\n")

    threading.Thread(target=log_frames, daemon=True).start()
    from tui_mtl.cli import main as cli_main

    sys.exit(cli_main(argv))


def read_frames(frame_log: Path, seen: int) -> tuple[list[dict], int]:
    if not frame_log.exists():
        return [], seen
    lines = frame_log.read_text().splitlines()
    return [json.loads(line) for line in lines[seen:]], len(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=30)
    parser.add_argument("--every", type=float, default=15)
    parser.add_argument("--child", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    parser.add_argument("--frame-log", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        run_instrumented_app(args.frame_log, args.every, args.child)
        return
    if shutil.which("tmux") is None:
        raise SystemExit("needs tmux")
    work = Path(tempfile.mkdtemp(prefix="tui-mtl-soak-"))
    preset = load_preset("quickstart").with_changes(name="soak", training={"steps": 10**9})
    (work / "soak.toml").write_text(preset.to_toml())
    frame_log = work / "frames.jsonl"
    session = "tui-mtl-soak"
    subprocess.run([*TMUX, "kill-session", "-t", session], capture_output=True)
    subprocess.run([*TMUX, "new", "-d", "-s", session, "-x", "120", "-y", "40",
                    f"TUI_MTL_RUNS_DIR={work / 'runs'} {sys.executable} {Path(__file__).resolve()} "
                    f"--every {args.every} --frame-log {frame_log} --child {work / 'soak.toml'}"], check=True)
    pid = app_pid(session)
    samples, frame_stats, seen = [], [], 0
    start = time.time()
    try:
        while time.time() - start < args.minutes * 60:
            time.sleep(args.every)
            if not Path(f"/proc/{pid}").exists():
                print("the app exited during the soak", flush=True)
                break
            screen = subprocess.run([*TMUX, "capture-pane", "-p", "-t", session], capture_output=True,
                                    text=True).stdout
            rate = re.search(r"([\d.,]+) steps/s", screen)
            step = re.search(r"step ([\d,]+)/", screen)
            samples.append((time.time() - start, rss_mb(pid), rate.group(1) if rate else "?",
                            step.group(1) if step else "?"))
            new, seen = read_frames(frame_log, seen)
            frame_stats.extend((samples[-1][0], stats) for stats in new)
            frames = new[-1] if new else {"frames": 0, "p50": float("nan"), "p95": float("nan"), "max": float("nan")}
            print(f"{samples[-1][0]:7.0f} s  RSS {samples[-1][1]:7.1f} MB  {samples[-1][2]} steps/s  "
                  f"step {samples[-1][3]}  frames {frames['frames'] / args.every:4.1f}/s "
                  f"p50 {frames['p50']:5.1f} ms p95 {frames['p95']:5.1f} ms max {frames['max']:6.1f} ms  "
                  f"full GCs {frames.get('full_gcs', 0)} (longest {frames.get('gc_max', 0.0):.0f} ms)", flush=True)
    finally:
        subprocess.run([*TMUX, "send-keys", "-t", session, "q"])
        time.sleep(3)
        gone = subprocess.run([*TMUX, "has-session", "-t", session], capture_output=True).returncode != 0
        subprocess.run([*TMUX, "kill-session", "-t", session], capture_output=True)
    after_first_minute = next((rss for t, rss, *_ in samples if t >= 60), samples[0][1])
    print(f"RSS after 1 min {after_first_minute:.1f} MB, at the end {samples[-1][1]:.1f} MB "
          f"(growth {samples[-1][1] - after_first_minute:+.1f} MB, target <= 50); exited on q: {gone}")
    report_frame_trend(frame_stats)


def report_frame_trend(frame_stats: list[tuple[float, dict]]) -> None:
    """Frame time flat: the median of the per-interval p50/p95 in the first and the last fifth."""
    timed = [(t, s) for t, s in frame_stats if s["frames"]]
    if len(timed) < 5:
        print("frame time: too few intervals to compare")
        return
    fifth = max(1, len(timed) // 5)
    for label, part in (("first fifth", timed[:fifth]), ("last fifth", timed[-fifth:])):
        p50 = statistics.median(s["p50"] for _, s in part)
        p95 = statistics.median(s["p95"] for _, s in part)
        rate = statistics.median(s["frames"] for _, s in part)
        print(f"frame time, {label}: p50 {p50:.1f} ms, p95 {p95:.1f} ms ({rate:.0f} frames per interval)")


if __name__ == "__main__":
    main()
