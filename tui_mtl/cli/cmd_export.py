"""`tui-mtl export RUN --model OUT.keras`: a run's trained model as a standard Keras file."""

from __future__ import annotations

import argparse
import contextlib
import os
import tempfile
from pathlib import Path

from tui_mtl.cli import args as cli_args
from tui_mtl.cli.output import OK
from tui_mtl.presets import read_preset


def parser() -> argparse.ArgumentParser:
    p = cli_args.Parser(prog="tui-mtl export", description="Write a run's trained model as a standard Keras file.")
    p.add_argument("run", help="run folder, its name under the runs dir, or `latest`")
    p.add_argument("--model", required=True, metavar="OUT.keras", help="the file to write (.keras)")
    cli_args.add_runs_dir(p)
    return p


def export_model(model, out: Path) -> None:
    """Save atomically: Keras writes to a temporary name in the same folder, then it is renamed,
    with the file mode any new file gets."""
    from tui_mtl.fileio import FILE_MODE

    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{out.stem}.", suffix=".keras", dir=out.parent)
    os.close(fd)
    try:
        model.save(tmp)
        os.chmod(tmp, FILE_MODE)
        os.replace(tmp, out)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def main(argv: list[str]) -> int:
    args = parser().parse_args(argv)
    from tui_mtl.runs import find_run

    out = Path(args.model)
    if out.suffix != ".keras":
        raise cli_args.UsageError(f"--model {out}: the file name must end in .keras")
    run_dir = find_run(args.run, Path(args.runs_dir).expanduser() if args.runs_dir else None)
    checkpoint_file = run_dir / "checkpoint.npz"
    if not checkpoint_file.is_file():
        raise cli_args.UsageError(f"{run_dir}: no checkpoint.npz to export")
    preset = read_preset(run_dir / "preset.toml")
    cli_args.quiet_tensorflow_import()
    from tui_mtl.engine import Session

    session = Session(preset, base_dir=run_dir)
    session.load_checkpoint(checkpoint_file)
    export_model(session.model, out)
    needs = "" if preset.model.architecture.type == "hard" else "import tui_mtl.architectures (its layers), then "
    print(f"wrote {out} (step {session.step_count}; outputs {', '.join(session.head_names)}); "
          f"load it with {needs}keras.models.load_model")
    return OK
