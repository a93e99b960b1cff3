"""A non-editable install (a wheel) carries the shipped presets inside the package."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHIPPED = {"quickstart", "seed-two-heads", "imbalanced-scales", "multi-digits"}  # documented
ALL_SHIPPED = {path.stem for path in (REPO / "presets").glob("*.toml")}  # everything in the folder

PROBE = """
import json, tui_mtl
from tui_mtl.presets import preset_files, read_preset, shipped_presets_dir
print(json.dumps({
    "file": tui_mtl.__file__,
    "shipped_dir": str(shipped_presets_dir()),
    "presets": [[origin, str(path), read_preset(path).name] for origin, path in preset_files()],
}))
"""


@pytest.mark.slow
def test_wheel_install_finds_the_shipped_presets(tmp_path):
    wheels, site, outside = tmp_path / "wheels", tmp_path / "site", tmp_path / "elsewhere"
    outside.mkdir()
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input", "-q"]
    # Build with the project's own backend; without hatchling here pip fetches it into an isolated env.
    isolation = [] if importlib.util.find_spec("hatchling") is None else ["--no-build-isolation"]
    build = subprocess.run([*pip, "wheel", "--no-deps", *isolation, "-w", str(wheels), str(REPO)],
                           capture_output=True, text=True, timeout=300)
    assert build.returncode == 0, build.stderr[-3000:]
    (wheel,) = wheels.glob("tui_mtl-*.whl")

    install = subprocess.run([*pip, "install", "--no-deps", "--target", str(site), str(wheel)],
                             capture_output=True, text=True, timeout=300)
    assert install.returncode == 0, install.stderr[-3000:]

    env = {**os.environ, "PYTHONPATH": str(site), "TUI_MTL_PRESETS_DIR": str(tmp_path / "no-user-presets")}
    probe = subprocess.run([sys.executable, "-c", PROBE], cwd=outside, env=env,
                           capture_output=True, text=True, timeout=120)
    assert probe.returncode == 0, probe.stderr[-3000:]
    found = json.loads(probe.stdout)

    assert Path(found["file"]).resolve().is_relative_to(site.resolve()), found["file"]
    assert Path(found["shipped_dir"]).resolve().is_relative_to(site.resolve()), found["shipped_dir"]
    names = {name for _origin, _path, name in found["presets"]}
    assert names >= SHIPPED
    assert names == ALL_SHIPPED
    assert {origin for origin, _path, _name in found["presets"]} == {"shipped"}
    for _origin, path, name in found["presets"]:
        assert Path(path).resolve().is_relative_to(site.resolve())
        assert Path(path).stem == name
        assert Path(path).read_bytes() == (REPO / "presets" / f"{name}.toml").read_bytes()

    # and the installed command line lists them too
    listed = subprocess.run([sys.executable, "-m", "tui_mtl", "presets"], cwd=outside, env=env,
                            capture_output=True, text=True, timeout=120)
    assert listed.returncode == 0, listed.stderr
    assert {line.split()[0] for line in listed.stdout.splitlines()} == ALL_SHIPPED
    assert "INVALID" not in listed.stdout
