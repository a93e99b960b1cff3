"""UI soak: the dashboard training in a real terminal (tmux) for a while; resident memory sampled.

Starts `tui-mtl` on quickstart with a very long run inside tmux, samples the process's RSS every
`--every` seconds for `--minutes`, reads steps/s off the screen, then quits with `q` and checks the
process is gone. Target (issue 7): memory flat (RSS at the end within 50 MB of RSS after the first
minute).

    python benchmarks/soak_ui.py [--minutes 30] [--every 15]
"""

from __future__ import annotations

import argparse
import re
import shutil
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=30)
    parser.add_argument("--every", type=float, default=15)
    args = parser.parse_args()
    if shutil.which("tmux") is None:
        raise SystemExit("needs tmux")
    work = Path(tempfile.mkdtemp(prefix="tui-mtl-soak-"))
    preset = load_preset("quickstart").with_changes(name="soak", training={"steps": 10**9})
    (work / "soak.toml").write_text(preset.to_toml())
    tui = Path(sys.executable).with_name("tui-mtl")
    session = "tui-mtl-soak"
    subprocess.run([*TMUX, "kill-session", "-t", session], capture_output=True)
    subprocess.run([*TMUX, "new", "-d", "-s", session, "-x", "120", "-y", "40",
                    f"TUI_MTL_RUNS_DIR={work / 'runs'} {tui} {work / 'soak.toml'}"], check=True)
    pid = app_pid(session)
    samples = []
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
            print(f"{samples[-1][0]:7.0f} s  RSS {samples[-1][1]:7.1f} MB  {samples[-1][2]} steps/s  "
                  f"step {samples[-1][3]}", flush=True)
    finally:
        subprocess.run([*TMUX, "send-keys", "-t", session, "q"])
        time.sleep(3)
        gone = subprocess.run([*TMUX, "has-session", "-t", session], capture_output=True).returncode != 0
        subprocess.run([*TMUX, "kill-session", "-t", session], capture_output=True)
    after_first_minute = next((rss for t, rss, *_ in samples if t >= 60), samples[0][1])
    print(f"RSS after 1 min {after_first_minute:.1f} MB, at the end {samples[-1][1]:.1f} MB "
          f"(growth {samples[-1][1] - after_first_minute:+.1f} MB, target <= 50); exited on q: {gone}")


if __name__ == "__main__":
    main()
