"""Exit-time benchmark (not a test): signal to process gone, while training.

Issue 7 asks that q, ctrl+c, SIGTERM and SIGHUP stop training, flush and exit within 2 s. For the
headless `tui-mtl run` (SIGTERM, SIGHUP) and the terminal app in a pseudo-terminal (`q`, SIGTERM,
SIGHUP), prints the median and worst seconds from the signal to the process's exit, including the
final checkpoint and metrics flush.

    python benchmarks/bench_exit.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_ui import PtyApp, env_for, long_preset, tui_command  # noqa: E402


def headless_exit(tmp: Path, sig: signal.Signals) -> float:
    proc = subprocess.Popen([*tui_command(), "run", "quickstart", "--steps", "1000000000"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                            env={**env_for(tmp), "PYTHONUNBUFFERED": "1"})
    for line in proc.stdout:  # training has started
        if line.startswith("step "):
            break
    time.sleep(1.0)
    sent = time.perf_counter()
    proc.send_signal(sig)
    proc.stdout.read()
    proc.wait()
    took = time.perf_counter() - sent
    if proc.returncode != 0:
        raise SystemExit(f"headless run exited {proc.returncode} on {sig.name}")
    return took


def ui_exit(tmp: Path, how: str, loading: bool = False) -> float:
    """`loading`: quit 0.5 s after the start, while the worker still imports TensorFlow."""
    app = PtyApp([*tui_command(), long_preset(tmp, 10**9)], env_for(tmp))
    if loading:
        app.drain(0.5)
    elif app.wait_for(b"RUNNING", timeout=120) is None:
        raise SystemExit("the app did not start training")
    else:
        app.drain(1.0)
    sent = app.send(b"q") if how == "q" else (time.perf_counter(), os.kill(app.pid, getattr(signal, how)))[0]
    while True:
        app.read(0.01)
        pid, status = os.waitpid(app.pid, os.WNOHANG)
        if pid:
            return time.perf_counter() - sent
        if time.perf_counter() - sent > 30:
            os.kill(app.pid, signal.SIGKILL)
            raise SystemExit(f"the app did not exit within 30 s of {how}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="tui-mtl-exit-"))
    cases = [("headless SIGTERM", lambda: headless_exit(tmp, signal.SIGTERM)),
             ("headless SIGHUP", lambda: headless_exit(tmp, signal.SIGHUP)),
             ("UI q", lambda: ui_exit(tmp, "q")),
             ("UI q, TF loading", lambda: ui_exit(tmp, "q", loading=True)),
             ("UI SIGTERM", lambda: ui_exit(tmp, "SIGTERM")),
             ("UI SIGHUP", lambda: ui_exit(tmp, "SIGHUP"))]
    print(f"{'case':18} {'median s':>9} {'worst s':>8}   (target < 2 s)")
    for name, measure in cases:
        times = [measure() for _ in range(args.repeats)]
        print(f"{name:18} {statistics.median(times):9.2f} {max(times):8.2f}", flush=True)


if __name__ == "__main__":
    main()
