"""UI benchmarks (not tests): prints a table.

    python benchmarks/bench_ui.py            # everything (~2 minutes on 2 cores)
    python benchmarks/bench_ui.py --only plot

1. steps/s of quickstart headless (Session.run in a plain process, without and with a run folder)
   vs under the running UI in a pseudo-terminal at 120x40 — all measured the same way: wall clock
   from the first report at or past a tenth of the run (after every trace) to the first at the
   last step (target: UI >= 0.97x headless);
2. process start to first frame: spawn `tui-mtl quickstart` in a pty, time to the first bytes of
   the dashboard (target < 1 s; `import tensorflow` alone takes ~2.7 s here);
3. key-to-screen latency while training with plots live, for every footer key (space, s, ], [, e,
   z, f, ctrl+s, l, ?, and d): press it in the pty, time until text its effect draws arrives on
   the terminal (target p95 < 50 ms); v and b act only on a comparison, q ends the app;
4. plot redraw time of the dashboard's plots at 120x40 with 1k / 100k / 1M points of history per
   head (snapshot + downsample + plotext build; target < 20 ms).
"""

from __future__ import annotations

import argparse
import asyncio
import fcntl
import json
import math
import os
import pty
import select
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

COLS, ROWS = 120, 40


def tui_command() -> list[str]:
    script = Path(sys.executable).parent / "tui-mtl"
    return [str(script)] if script.exists() else [sys.executable, "-m", "tui_mtl"]


class PtyApp:
    """A child process on a pseudo-terminal of COLS x ROWS; output is read into a buffer."""

    def __init__(self, argv: list[str], env: dict):
        self.started = time.perf_counter()
        self.pid, self.fd = pty.fork()
        if self.pid == 0:  # child
            os.execvpe(argv[0], argv, env)
        fcntl.ioctl(self.fd, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, COLS, 0, 0))
        self.buffer = bytearray()

    def read(self, timeout: float) -> bytes:
        ready, _, _ = select.select([self.fd], [], [], timeout)
        if not ready:
            return b""
        try:
            chunk = os.read(self.fd, 65536)
        except OSError:
            return b""
        self.buffer.extend(chunk)
        return chunk

    def wait_for(self, needle: bytes, timeout: float, start: int = 0) -> float | None:
        """Seconds (perf_counter) when `needle` first appears in the output after offset `start`."""
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            if needle in self.buffer[start:]:
                return time.perf_counter()
            self.read(0.005)
        return None

    def drain(self, seconds: float) -> None:
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            self.read(0.01)

    def send(self, data: bytes) -> float:
        now = time.perf_counter()
        os.write(self.fd, data)
        return now

    def close(self, timeout: float = 20) -> int | None:
        try:
            self.send(b"q")
        except OSError:
            pass
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            self.read(0.05)
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                return os.waitstatus_to_exitcode(status)
        os.kill(self.pid, signal.SIGKILL)
        os.waitpid(self.pid, 0)
        return None


def env_for(tmp: Path) -> dict:
    env = dict(os.environ)
    env.pop("COLUMNS", None)
    env.pop("LINES", None)
    env.update(TERM="xterm-256color", TUI_MTL_PRESETS_DIR=str(tmp / "presets"),
               TUI_MTL_RUNS_DIR=str(tmp / "runs"), TF_CPP_MIN_LOG_LEVEL="2")
    return env


def long_preset(tmp: Path, steps: int) -> str:
    """quickstart with more steps, as a user preset (so training outlasts the measurement)."""
    from tui_mtl.presets import load_preset, save_user_preset

    os.environ["TUI_MTL_PRESETS_DIR"] = str(tmp / "presets")
    preset = load_preset("quickstart").with_changes(name=f"bench-{steps}", training={"steps": steps})
    save_user_preset(preset, overwrite=True)
    return preset.name


HEADLESS = textwrap.dedent("""
    import json, os, sys, time
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from tui_mtl.engine import Session
    from tui_mtl.presets import load_preset
    from tui_mtl.runs.recorder import RunRecorder
    marks = []
    session = Session(load_preset(sys.argv[1]), report_interval=0.2)
    if len(sys.argv) > 2:  # a run folder, as `tui-mtl run` and the app write (~5% of steps/s here)
        RunRecorder(sys.argv[2], session)
    session.subscribe(lambda r: marks.append((time.monotonic(), r.step)))
    session.run()
    print(json.dumps({"marks": [m for m in marks if m[1] > 0]}))
""")


def measured_window(marks: list, steps: int) -> tuple[list, list]:
    """The first report at or past a tenth of the run and the first at its last step. Both sides start
    after every trace (the app reports step 1 at once, then traces the fused step; headless first
    reports later), so compiling is not counted against either; both end when the last step is
    reported (the app reports once more after its final checkpoint)."""
    warm = [mark for mark in marks if mark[1] >= steps // 10]
    return warm[0], next(mark for mark in warm if mark[1] == warm[-1][1])


def rate_after_warmup(marks: list, steps: int) -> float:
    """Steps/s over `measured_window`."""
    start, end = measured_window(marks, steps)
    return (end[1] - start[1]) / (end[0] - start[0])


def ui_share(marks: list, steps: int) -> float:
    """The UI thread's CPU time over `measured_window`, as a share of one core (the app's marks carry it)."""
    start, end = measured_window(marks, steps)
    return (end[2] - start[2]) / (end[0] - start[0])


def bench_speed(tmp: Path, steps: int, repeats: int) -> dict:
    """Alternate headless and UI runs (the box may be shared: load changes between runs) and compare
    the best and the median of each."""
    name = long_preset(tmp, steps)
    env = env_for(tmp)
    headless, recorded, ui, plot_updates, shares = [], [], [], [], []
    for repeat in range(repeats):
        for runs, extra in ((headless, []), (recorded, [str(tmp / f"headless-run-{repeat}")])):
            run = subprocess.run([sys.executable, "-c", HEADLESS, name, *extra], env=env, capture_output=True,
                                 text=True, timeout=600)
            if run.returncode:
                raise RuntimeError(run.stderr[-2000:])
            runs.append(rate_after_warmup(json.loads(run.stdout.strip().splitlines()[-1])["marks"], steps))

        runs_before = set((tmp / "runs").glob(f"*-{name}*"))
        app = PtyApp(tui_command() + [name], env)
        finished = app.wait_for(b"FINISHED", timeout=steps / 20 + 120)
        app.close()
        if finished is None:
            raise RuntimeError("the UI run did not finish")
        folder = next(iter(set((tmp / "runs").glob(f"*-{name}*")) - runs_before))
        summary = json.loads((folder / "ui-summary.json").read_text())
        ui.append(rate_after_warmup(summary["marks"], steps))
        shares.append(ui_share(summary["marks"], steps))
        plot_updates.append(summary.get("plot_updates"))
    return {"headless": headless, "recorded": recorded, "ui": ui, "plot_updates": plot_updates, "ui_share": shares,
            "ratio_best": max(ui) / max(headless),
            "ratio_median": statistics.median(ui) / statistics.median(headless),
            "recorded_ratio_median": statistics.median(ui) / statistics.median(recorded)}


def bench_first_frame(tmp: Path, repeats: int = 3) -> list[float]:
    times = []
    for _ in range(repeats):
        app = PtyApp(tui_command() + ["quickstart"], env_for(tmp))
        seen = app.wait_for(b"quickstart", timeout=20)
        times.append(seen - app.started if seen else float("nan"))
        app.close()
    return times


# Every key of the footer while training (v and b act only on a comparison's branches; q ends the
# app): what to press, what to press to undo it (untimed), and text its next frame draws.
FOOTER_KEYS = (
    ("space", b" ", b" ", b"PAUSED"),
    ("s", b"s", b"S", b"grouped"),
    ("]", b"]", b"[", b"2e-03"),
    ("[", b"[", b"]", b"5e-04"),
    ("e", b"e", b"\x1b", b"Enter applies"),
    ("z", b"z", b"", b"rewind"),
    ("f", b"f", b"\x1b", b"compare from this exact point"),
    ("ctrl+s", b"\x13", b"\x1b", b"Save the session"),
    ("l", b"l", b"l", b"log10"),
    ("?", b"?", b"\x1b", b"Every change takes effect"),
    ("d", b"d", b"d", b"update share"),
)


def bench_latency(tmp: Path, presses: int = 20) -> dict:
    """Each footer key while training with plots live: time from the key's bytes to the frame that
    shows its effect (the needle in the terminal output after the key was sent)."""
    name = long_preset(tmp, 400_000)
    app = PtyApp(tui_command() + [name], env_for(tmp))
    results = {}
    try:
        if app.wait_for(b"RUNNING", timeout=120) is None:
            raise RuntimeError("training did not start")
        app.drain(3.0)  # plots live, a few validations in
        for label, key, undo, needle in FOOTER_KEYS:
            latencies = []
            for _ in range(presses):
                start = len(app.buffer)
                sent = app.send(key)
                seen = app.wait_for(needle, timeout=2.0, start=start)
                if seen is not None:
                    latencies.append((seen - sent) * 1000)
                app.drain(0.15)
                if undo:
                    app.send(undo)  # not timed
                app.drain(0.4)
            latencies.sort()
            if latencies:
                results[label] = {"n": len(latencies), "p50": statistics.median(latencies),
                                  "p95": latencies[max(0, int(round(0.95 * len(latencies))) - 1)],
                                  "max": latencies[-1]}
            else:
                results[label] = {"n": 0, "p50": math.nan, "p95": math.nan, "max": math.nan}
    finally:
        app.close()
    return results


def bench_plot(points: list[int], repeats: int = 10) -> dict:
    from tests.ui.conftest import make_app  # a dashboard on the fake stepper: no TensorFlow here
    from tui_mtl.engine.history import History
    from tui_mtl.engine.reports import Event
    from tui_mtl.engine.state import State
    from tui_mtl.presets import load_preset

    results = {}

    async def run() -> None:
        def paused(session):
            session.state = State.PAUSED

        app = make_app(load_preset("quickstart"), engine="fake", prepare=paused)
        async with app.run_test(size=(COLS, ROWS)) as pilot:
            dash = app.dashboard
            while dash.session is None:
                await asyncio.sleep(0.01)
            await pilot.pause()
            for n in points:
                history = History()
                heads = dash.session.head_names
                for head_index, head in enumerate(heads):
                    train = history._series(history.train, head)
                    val = history._series(history.val, head)
                    for step in range(1, n + 1):
                        train.append(step, 1.0 / (1 + step * 1e-3 * (head_index + 1)))
                        if step % 100 == 0:
                            val.append(step, 1.1 / (1 + step * 1e-3 * (head_index + 1)))
                history.events.extend([Event(n // 3, "strategy", "grouped"), Event(2 * n // 3, "lr", "shape lr=0.002")])
                dash.session.history = history
                plots = dash.head_plots()  # not the hidden diagnostics plots
                for log in (False, True):
                    samples = []
                    for _ in range(repeats):
                        started = time.perf_counter()
                        dash.replot()
                        for plot in plots:
                            plot.set_log(log)
                            plot.render()
                        samples.append((time.perf_counter() - started) * 1000)
                    results[(n, log)] = (statistics.median(samples), max(samples),
                                         len(history.train[heads[0]]), plots[0].size)
            await pilot.press("q")

    asyncio.run(run())
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", choices=("speed", "start", "latency", "plot"), action="append")
    parser.add_argument("--steps", type=int, default=3000, help="steps for the speed comparison")
    parser.add_argument("--repeats", type=int, default=5,
                        help="alternated rounds of the speed comparison (the ratio varies by a few %% between rounds)")
    args = parser.parse_args()
    only = set(args.only or ("speed", "start", "latency", "plot"))
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        if "plot" in only:
            for (n, log), (median, worst, stored, size) in bench_plot([1_000, 100_000, 1_000_000]).items():
                rows.append((f"plot redraw, {n:>9,} pts/head{' (log10)' if log else ''}",
                             f"{median:.1f} ms (max {worst:.1f})",
                             f"3 plots of {size.width}x{size.height}; {stored} stored pts/head", "< 20 ms"))
        if "start" in only:
            times = bench_first_frame(tmp)
            rows.append(("start to first frame", f"{statistics.median(times) * 1000:.0f} ms",
                         "runs: " + ", ".join(f"{t * 1000:.0f}" for t in times) + " ms", "< 1000 ms"))
        if "latency" in only:
            for key, lat in bench_latency(tmp).items():
                rows.append((f"key-to-screen `{key}`", f"p50 {lat['p50']:.1f} ms, p95 {lat['p95']:.1f} ms",
                             f"while training; n={lat['n']}, max {lat['max']:.1f} ms", "p95 < 50 ms"))
        if "speed" in only:
            speed = bench_speed(tmp, args.steps, args.repeats)
            rows.append(("steps/s headless (best of runs)", f"{max(speed['headless']):.1f}",
                         "runs: " + ", ".join(f"{v:.0f}" for v in speed["headless"]), ""))
            rows.append(("steps/s under the UI (best of runs)", f"{max(speed['ui']):.1f}",
                         "runs: " + ", ".join(f"{v:.0f}" for v in speed["ui"]), ""))
            rows.append(("steps/s headless with a run folder", f"{max(speed['recorded']):.1f}",
                         "runs: " + ", ".join(f"{v:.0f}" for v in speed["recorded"]), ""))
            rows.append(("UI / headless", f"best {speed['ratio_best']:.3f}, median {speed['ratio_median']:.3f}",
                         f"{args.steps} steps per run, alternated", ">= 0.97"))
            rows.append(("UI / headless with a run folder", f"median {speed['recorded_ratio_median']:.3f}",
                         "both write metrics, TensorBoard and checkpoints", ""))
            rows.append(("UI thread's share of a core, training", f"median {statistics.median(speed['ui_share']):.3f}",
                         "runs: " + ", ".join(f"{v:.3f}" for v in speed["ui_share"]) +
                         "; plot redraws: " + ", ".join(str(n) for n in speed["plot_updates"]), ""))
    width = [max(len(str(r[i])) for r in rows) for i in range(4)]
    print(f"{'measure':<{width[0]}}  {'result':<{width[1]}}  {'detail':<{width[2]}}  target")
    for r in rows:
        print(f"{r[0]:<{width[0]}}  {r[1]:<{width[1]}}  {r[2]:<{width[2]}}  {r[3]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
