"""Look at a comparison report in a real browser: run `compare --seeds`, then screenshot its
report.html with headless Chromium (Debian package `chromium`).

    python benchmarks/screenshot_report.py [--preset imbalanced-scales] [--out report.png]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="imbalanced-scales")
    parser.add_argument("--strategies", default="summed,grouped")
    parser.add_argument("--seeds", default="3")
    parser.add_argument("--steps", default="200")
    parser.add_argument("--out", default="report.png")
    args = parser.parse_args()
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        print("chromium is not installed (apt-get install -y chromium)", file=sys.stderr)
        return 2
    runs = Path(tempfile.mkdtemp(prefix="tui-mtl-report-"))
    subprocess.run([sys.executable, "-m", "tui_mtl", "compare", args.preset, "--strategies", args.strategies,
                    "--seeds", args.seeds, "--steps", args.steps, "--quiet", "--runs-dir", str(runs)], check=True)
    (run,) = runs.iterdir()
    page = run / "report.html"
    out = Path(args.out).resolve()
    subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                    f"--screenshot={out}", "--window-size=1100,2600", page.as_uri()], check=True,
                   capture_output=True)
    print(f"{page} -> {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
