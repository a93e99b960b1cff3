"""`tui-mtl export RUN --model OUT.keras`: a run's trained model as a standard Keras file;
`--script train.py`: a script that trains the same way in your own `model.fit`."""

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
    p = cli_args.Parser(prog="tui-mtl export",
                        description="Write a run's trained model as a standard Keras file, and/or a training script "
                                    "with the run's settings in force for your own model.fit.")
    p.add_argument("run", help="run folder, its name under the runs dir, or `latest`")
    p.add_argument("--model", metavar="OUT.keras", help="the trained model to write (.keras)")
    p.add_argument("--script", metavar="TRAIN.py",
                   help="a runnable script training with the run's strategy, rates, weights and scales (tui_mtl.keras)")
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

    if args.model is None and args.script is None:
        raise cli_args.UsageError("say what to write: --model OUT.keras and/or --script TRAIN.py")
    out = Path(args.model) if args.model else None
    if out is not None and out.suffix != ".keras":
        raise cli_args.UsageError(f"--model {out}: the file name must end in .keras")
    script = Path(args.script) if args.script else None
    if script is not None and script.suffix != ".py":
        raise cli_args.UsageError(f"--script {script}: the file name must end in .py")
    run_dir = find_run(args.run, Path(args.runs_dir).expanduser() if args.runs_dir else None)
    checkpoint_file = run_dir / "checkpoint.npz"
    if not checkpoint_file.is_file():
        raise cli_args.UsageError(f"{run_dir}: no checkpoint.npz to export")
    preset = read_preset(run_dir / "preset.toml")
    cli_args.quiet_tensorflow_import()
    from tui_mtl.engine import Session

    session = Session(preset, base_dir=run_dir)
    session.load_checkpoint(checkpoint_file)
    if script is not None:
        write_script(session, run_dir, script)
    if out is not None:
        export_model(session.model, out)
        needs = "" if preset.model.architecture.type == "hard" else "import tui_mtl.architectures (its layers), then "
        print(f"wrote {out} (step {session.step_count}; outputs {', '.join(session.head_names)}); "
              f"load it with {needs}keras.models.load_model")
    return OK


def write_script(session, run_dir: Path, script: Path) -> None:
    from tui_mtl.cli.training_script import training_script
    from tui_mtl.fileio import atomic_write_text
    from tui_mtl.presets.model_source import SourceKind
    from tui_mtl.strategies.catalog import parse_strategy

    current = session.current_preset()
    if parse_strategy(current.strategy.name).layout == "alternating":
        raise cli_args.UsageError(f"--script: the run's strategy {current.strategy.name} picks one head per step on "
                                  f"the host, which a Keras train_step cannot; switch the run to a summed or "
                                  f"grouped layout first")
    if current.model.imported and current.model.imported_source().kind is SourceKind.IN_MEMORY:
        raise cli_args.UsageError("--script: the run's model was handed over in Python (Session.from_model); "
                                  "save it as a .keras file and name it with [model] from")
    script.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(script, training_script(current, run=run_dir.name, step=session.step_count,
                                              script=script.name))
    print(f"wrote {script} ({current.strategy.name} at step {session.step_count}): python {script} [--steps N]")
