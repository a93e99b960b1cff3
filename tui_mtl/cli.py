"""`tui-mtl`: the terminal app by default; `run` trains headless; `presets` lists, shows and checks.

Bad input exits with code 2 and one line naming the problem; no traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import math
import os
import shlex
import sys
from pathlib import Path

from tui_mtl.devices import PRECISIONS
from tui_mtl.errors import TuiMtlError
from tui_mtl.presets import find_preset_path, preset_files, read_preset

SUBCOMMANDS = ("run", "compare", "resume", "export", "presets", "serve")


class UsageError(TuiMtlError):
    pass


def _quiet_tensorflow_import() -> None:
    """Import TensorFlow and probe its devices with their native chatter (fd 2) sent to /dev/null."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 2)
            import tensorflow

            tensorflow.config.list_physical_devices()  # CUDA probing logs "failed call to cuInit" on CPU boxes
    finally:
        os.dup2(saved, 2)
        os.close(saved)


# --- argument parsing --------------------------------------------------------------------


def parse_assignments(values: list[str], what: str) -> list[tuple[str, float]]:
    """['head1=1e-3', ...] -> [('head1', 0.001), ...]; malformed items raise UsageError."""
    pairs = []
    for item in values or []:
        head, sep, number = item.partition("=")
        if not sep or not head or not number:
            raise UsageError(f"{what} {item!r}: expected HEAD=VALUE, e.g. {what} head1=1e-3")
        try:
            value = float(number)
        except ValueError:
            raise UsageError(f"{what} {item!r}: {number!r} is not a number") from None
        if not math.isfinite(value):
            raise UsageError(f"{what} {item!r}: the value must be finite")
        pairs.append((head.strip(), value))
    return pairs


def _ui_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tui-mtl",
        description="Train multi-head Keras networks live in the terminal. "
                    f"Subcommands: {', '.join(SUBCOMMANDS)} (tui-mtl SUBCOMMAND --help).")
    parser.add_argument("preset", nargs="?", help="preset name or .toml path (default: open the picker)")
    parser.add_argument("--fps", type=int, default=30, help="cap on screen refreshes per second (default 30)")
    parser.add_argument("--runs-dir", help="where run folders go (default: the user's state dir)")
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    _add_device_options(parser)
    return parser


def _run_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tui-mtl run", description="Train a preset headless, printing progress.")
    parser.add_argument("preset", help="preset name or .toml path")
    parser.add_argument("--steps", type=int, help="steps to train (default: the preset's)")
    parser.add_argument("--strategy", help="strategy to train with (default: the preset's)")
    parser.add_argument("--lr", action="append", metavar="HEAD=RATE",
                        help="a head's learning rate (or trunk=RATE); repeatable")
    parser.add_argument("--weight", action="append", metavar="HEAD=W", help="a head's loss weight; repeatable")
    parser.add_argument("--seed", type=int, help="data and initialisation seed (default: the preset's)")
    parser.add_argument("--metrics-out", metavar="FILE", help="write one row per report: .csv or .jsonl")
    parser.add_argument("--quiet", action="store_true", help="print only the final table")
    _add_run_folder_options(parser)
    _add_device_options(parser)
    return parser


def _add_device_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("devices")
    group.add_argument("--gpus", help="GPUs this session may see, e.g. 0,2 (default: all that "
                                      "CUDA_VISIBLE_DEVICES allows)")
    group.add_argument("--devices", help="train on several devices at once: `all` or indices among the "
                                         "visible ones, e.g. 0,1 (tf.distribute.MirroredStrategy)")
    group.add_argument("--mixed-precision", choices=PRECISIONS,
                       help="compute in bfloat16 or float16 with float32 variables and outputs; fp16 "
                            "adds dynamic loss scaling (default off; resume: the run's own)")
    group.add_argument("--no-memory-growth", action="store_true",
                       help="let TensorFlow take all GPU memory up front (default: grow on demand, "
                            "so a shared box keeps its memory)")


def _session_options(args: argparse.Namespace) -> dict:
    """Configure devices (before TensorFlow touches a GPU) and return the Session's device options."""
    from tui_mtl import devices

    try:
        gpus = devices.parse_device_list(args.gpus)
        chosen = devices.parse_device_list(args.devices)
    except ValueError as err:
        raise UsageError(f"--gpus/--devices: {err}") from None
    if gpus == "all":
        gpus = None
    _quiet_tensorflow_import()
    try:
        devices.configure(gpus, memory_growth=not args.no_memory_growth)
        distribution = devices.make_distribution(chosen)
    except (ValueError, RuntimeError) as err:
        raise UsageError(f"--gpus/--devices: {err}") from None
    return {"distribution": distribution, "mixed_precision": args.mixed_precision or "off"}


def _add_run_folder_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--runs-dir", help="where run folders go (default: the user's state dir; "
                                           "TUI_MTL_RUNS_DIR overrides)")
    parser.add_argument("--checkpoint-every", type=int, metavar="N", help="also checkpoint every N steps")
    parser.add_argument("--no-record", action="store_true",
                        help="write no run folder (no metrics.csv, TensorBoard logs or checkpoint)")


def _resume_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tui-mtl resume",
                                     description="Continue a run from its checkpoint, exactly where it stopped.")
    parser.add_argument("run", help="run folder, its name under the runs dir, or `latest`")
    parser.add_argument("--steps", type=int, help="more steps to train (default: the preset's)")
    parser.add_argument("--runs-dir", help="where to look for run names (default: the user's state dir)")
    parser.add_argument("--checkpoint-every", type=int, metavar="N", help="also checkpoint every N steps")
    parser.add_argument("--quiet", action="store_true", help="print only the final table")
    _add_device_options(parser)
    return parser


def _export_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tui-mtl export",
                                     description="Write a run's trained model as a standard Keras file.")
    parser.add_argument("run", help="run folder, its name under the runs dir, or `latest`")
    parser.add_argument("--model", required=True, metavar="OUT.keras", help="the file to write (.keras)")
    parser.add_argument("--runs-dir", help="where to look for run names (default: the user's state dir)")
    return parser


def _compare_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tui-mtl compare",
        description="Train WARMUP steps with the preset's strategy, fork one branch per strategy, and train "
                    "every branch STEPS steps on the same batches. Prints a per-head table.")
    parser.add_argument("preset", help="preset name or .toml path")
    parser.add_argument("--strategies", required=True, help="comma-separated, e.g. summed,grouped,pcgrad")
    parser.add_argument("--steps", type=int, help="steps per branch after the fork (default: the preset's)")
    parser.add_argument("--warmup", type=int, default=0, help="steps before the fork (default 0)")
    parser.add_argument("--seed", type=int, help="data and initialisation seed (default: the preset's)")
    parser.add_argument("--metrics-out", metavar="FILE",
                        help="every branch's reports, one row per step reported: .csv or .jsonl; "
                             "columns are named BRANCH:COLUMN")
    parser.add_argument("--quiet", action="store_true", help="print only the final table")
    _add_device_options(parser)
    return parser


def _presets_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tui-mtl presets", description="List, show and check presets.")
    sub = parser.add_subparsers(dest="action")
    sub.add_parser("list", help="one line per preset (the default)")
    show = sub.add_parser("show", help="print a preset's TOML")
    show.add_argument("preset")
    check = sub.add_parser("check", help="validate preset files: exit 0, or 2 with the first problem")
    check.add_argument("files", nargs="+")
    return parser


def _serve_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tui-mtl serve",
        description="Serve the app in a web browser (textual-serve). Each browser tab runs its own session: "
                    "its own process, model and training, which ends when the tab closes.")
    parser.add_argument("preset", nargs="?", help="preset name or .toml path (default: open the picker)")
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on (default 127.0.0.1: this machine only; 0.0.0.0: every interface)")
    parser.add_argument("--port", type=int, default=8000, help="port to listen on (default 8000)")
    parser.add_argument("--public-url", metavar="URL",
                        help="the address browsers use (default http://HOST:PORT); set it behind a proxy or "
                             "an SSH tunnel, or when HOST is 0.0.0.0")
    parser.add_argument("--fps", type=int, default=30, help="cap on screen refreshes per second (default 30)")
    parser.add_argument("--runs-dir", help="where run folders go (default: the user's state dir)")
    return parser


# --- presets -----------------------------------------------------------------------------


def cmd_presets(args: argparse.Namespace) -> int:
    if args.action in (None, "list"):
        rows = []
        for origin, path in preset_files():
            try:
                description = " ".join(read_preset(path).description.split())  # one line per preset
            except TuiMtlError as err:
                description = f"INVALID: {err}"
            rows.append((path.stem, origin, description))
        width = max((len(name) for name, _o, _d in rows), default=4)
        for name, origin, description in rows:
            print(f"{name:<{width}}  {origin:<7}  {description}".rstrip())
        return 0
    if args.action == "show":
        path = find_preset_path(args.preset)
        read_preset(path)  # refuse to show an invalid file as if it were fine
        print(path.read_text(encoding="utf-8"), end="")
        return 0
    for file in args.files:  # check
        preset = read_preset(file)
        print(f"{file}: ok ({preset.name}: {len(preset.model.heads)} heads, strategy {preset.strategy.name})")
    return 0


# --- headless training -------------------------------------------------------------------


class MetricsWriter:
    """One row per report, flushed as it goes, so a crash keeps everything written so far."""

    def __init__(self, path: str):
        self.path = Path(path)
        if self.path.suffix not in (".csv", ".jsonl"):
            raise UsageError(f"--metrics-out {path}: use a .csv or .jsonl file name")
        if self.path.parent.exists() and not self.path.parent.is_dir():  # mkdir would say "File exists"
            raise UsageError(f"--metrics-out {path}: {self.path.parent} is not a folder")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.handle = open(self.path, "w", newline="", encoding="utf-8")
        except OSError as err:
            raise UsageError(f"--metrics-out {path}: {err.strerror or err}") from None
        self.csv = None

    def write(self, report) -> None:
        self.write_row(report.as_row())

    def write_row(self, row: dict) -> None:
        if self.path.suffix == ".jsonl":
            self.handle.write(json.dumps(row) + "\n")
        else:
            if self.csv is None:
                self.csv = csv.DictWriter(self.handle, fieldnames=list(row))
                self.csv.writeheader()
            self.csv.writerow({k: "" if v is None else v for k, v in row.items()})
        self.handle.flush()

    def close(self) -> None:
        self.handle.close()


def _fmt(value) -> str:
    if value is None:
        return "-"
    return f"{value:.4g}"


def _eta(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 60}:{seconds % 60:02d}"


class ProgressPrinter:
    def __init__(self, heads: list[str], start_step: int, interval: float = 0.5):
        self.heads = heads
        self.start_step = start_step
        self.interval = interval
        self.last_print = -math.inf
        self.elapsed_at_last = 0.0

    def __call__(self, report) -> None:
        for event in report.events:
            print(f"step {event.step}: {event.kind}: {event.text}")
        is_val = report.val_loss is not None
        if not is_val and report.elapsed - self.last_print < self.interval and report.state == "running":
            return
        self.last_print = report.elapsed
        done = report.step - self.start_step
        total = report.target_step - self.start_step
        rate = report.steps_per_sec
        eta = _eta((total - done) / rate) if rate > 0 else "?"
        losses = "  ".join(f"{h} {_fmt(report.train_loss.get(h))}" for h in self.heads)
        line = f"step {report.step}/{report.target_step}  {losses}  | {rate:.0f} steps/s  ETA {eta}"
        if is_val:
            line += "  | val " + "  ".join(f"{h} {_fmt(report.val_loss[h])}" for h in self.heads)
        print(line, flush=True)


def summary_table(session) -> str:
    report = session.last_report
    preset = session.preset
    rows = [("head", "loss", "weight", "lr", "train", "best", "val loss", "val metric")]
    val_loss, val_metric = session.validate()
    for head in preset.model.heads:
        name = head.name
        rows.append((name, head.loss, _fmt(session.weights[name]), _fmt(session.learning_rates[name]),
                     _fmt(report.train_loss.get(name) if report else None),
                     _fmt(session.history.best_train.get(name)), _fmt(val_loss[name]),
                     f"{head.metric} {val_metric[name]:.4g}"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def cmd_run(args: argparse.Namespace) -> int:
    preset_path = find_preset_path(args.preset)
    # absolute data paths: the copy in the run folder must still find the files on resume
    preset = read_preset(preset_path).with_absolute_paths(preset_path.parent)
    if args.steps is not None and args.steps <= 0:
        raise UsageError(f"--steps must be a positive number of steps, got {args.steps}")
    if args.seed is not None:
        if not 0 <= args.seed <= 2**32 - 1:
            raise UsageError(f"--seed must be between 0 and 2**32-1, got {args.seed}")
        preset = preset.with_changes(data={"seed": args.seed})
    lrs = parse_assignments(args.lr, "--lr")
    weights = parse_assignments(args.weight, "--weight")
    heads = preset.model.head_names
    for head, value in lrs:
        if head not in heads + ["trunk"]:
            raise UsageError(f"--lr {head}=...: unknown head {head!r}; heads are {', '.join(heads)} (or trunk)")
        if value <= 0:
            raise UsageError(f"--lr {head}={value:g}: a learning rate must be > 0")
    for head, value in weights:
        if head not in heads:
            raise UsageError(f"--weight {head}=...: unknown head {head!r}; heads are {', '.join(heads)}")
        if value < 0:
            raise UsageError(f"--weight {head}={value:g}: a loss weight must be >= 0")
    if args.strategy:
        from tui_mtl.strategies.registry import parse_strategy_name

        try:
            parse_strategy_name(args.strategy)
        except ValueError as err:
            raise UsageError(f"--strategy: {err}") from None
    writer = MetricsWriter(args.metrics_out) if args.metrics_out else None

    options = _session_options(args)
    from tui_mtl.engine import Session

    session = Session(preset, base_dir=preset_path.parent, report_interval=0.25, **options)
    recorder = None
    if not args.no_record:
        recorder = _open_recorder(session, _make_run_dir(preset.name, args.runs_dir), args.checkpoint_every)
    if args.strategy:
        session.set_strategy(args.strategy)
    for head, value in lrs:
        session.set_lr(head, value)
    for head, value in weights:
        session.set_weight(head, value)
    if not args.quiet:
        session.subscribe(ProgressPrinter(heads, session.step_count))
    if writer:
        session.subscribe(writer.write)
    steps = args.steps or preset.training.steps
    print(f"{preset.name}: {steps} steps, strategy {session.strategy}, heads {', '.join(heads)}", flush=True)
    report = _train(session, steps, writer, recorder)
    print(summary_table(session))
    if report is not None:
        print(f"{report.step} steps in {report.elapsed:.1f} s of training "
              f"({report.step / report.elapsed if report.elapsed else 0:.0f} steps/s)")
    if writer:
        print(f"metrics written to {writer.path}")
    if recorder:
        print(f"run folder: {recorder.run_dir}  (tui-mtl resume {recorder.run_dir.name}; "
              f"tensorboard --logdir {recorder.run_dir})")
    return 0


def _make_run_dir(preset_name: str, runs_dir: str | None) -> Path:
    from tui_mtl.runs import new_run_dir

    try:
        return new_run_dir(preset_name, Path(runs_dir).expanduser() if runs_dir else None)
    except OSError as err:
        raise UsageError(f"cannot create a run folder: {err.strerror or err}") from None


def _open_recorder(session, run_dir: Path, checkpoint_every: int | None):
    from tui_mtl.recorder import RunRecorder

    if checkpoint_every is not None and checkpoint_every <= 0:
        raise UsageError(f"--checkpoint-every must be a positive number of steps, got {checkpoint_every}")
    return RunRecorder(run_dir, session, checkpoint_every=checkpoint_every)


@contextlib.contextmanager
def stop_on_signals(target):
    """ctrl+c, SIGTERM and SIGHUP (a dropped SSH connection) stop `target` at the next step boundary,
    so the metrics are flushed and the checkpoint is written; a second signal stops at once."""
    import signal

    wanted = [signal.SIGINT, signal.SIGTERM] + ([signal.SIGHUP] if hasattr(signal, "SIGHUP") else [])
    previous = {sig: signal.getsignal(sig) for sig in wanted}

    def handler(signum, _frame):
        name = signal.Signals(signum).name
        print(f"{name}: stopping at the next step (send it again to stop at once)", file=sys.stderr, flush=True)
        target.stop()
        for sig in wanted:
            signal.signal(sig, signal.default_int_handler if sig == signal.SIGINT else signal.SIG_DFL)

    for sig in wanted:
        signal.signal(sig, handler)
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def _train(session, steps: int, writer, recorder):
    """Run, and whatever happens, flush the metrics and leave a checkpoint of the last good step."""
    try:
        with stop_on_signals(session):
            return session.run(steps)
    except KeyboardInterrupt:
        session.stop()
        print("interrupted", file=sys.stderr)
        return session.last_report
    finally:
        if writer:
            writer.close()
        if recorder:
            recorder.close()


def cmd_resume(args: argparse.Namespace) -> int:
    from tui_mtl.runs import find_run

    run_dir = find_run(args.run, Path(args.runs_dir).expanduser() if args.runs_dir else None)
    checkpoint_file = run_dir / "checkpoint.npz"
    if not checkpoint_file.is_file():
        raise UsageError(f"{run_dir}: no checkpoint.npz to resume from")
    preset = read_preset(run_dir / "preset.toml")
    if args.steps is not None and args.steps <= 0:
        raise UsageError(f"--steps must be a positive number of steps, got {args.steps}")
    options = _session_options(args)
    if args.mixed_precision is None:  # continue in the precision the run was trained in
        from tui_mtl.checkpoint import read_meta

        options["mixed_precision"] = read_meta(checkpoint_file).get("mixed_precision", "off")
    from tui_mtl.engine import Session

    session = Session(preset, base_dir=run_dir, report_interval=0.25, **options)
    session.load_checkpoint(checkpoint_file)
    recorder = _open_recorder(session, run_dir, args.checkpoint_every)
    if not args.quiet:
        session.subscribe(ProgressPrinter(preset.model.head_names, session.step_count))
    steps = args.steps or preset.training.steps
    print(f"{run_dir.name}: resuming at step {session.step_count} with {session.strategy} for {steps} steps",
          flush=True)
    _train(session, steps, None, recorder)
    print(summary_table(session))
    print(f"run folder: {run_dir}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from tui_mtl.runs import find_run

    out = Path(args.model)
    if out.suffix != ".keras":
        raise UsageError(f"--model {out}: the file name must end in .keras")
    run_dir = find_run(args.run, Path(args.runs_dir).expanduser() if args.runs_dir else None)
    checkpoint_file = run_dir / "checkpoint.npz"
    if not checkpoint_file.is_file():
        raise UsageError(f"{run_dir}: no checkpoint.npz to export")
    preset = read_preset(run_dir / "preset.toml")
    _quiet_tensorflow_import()
    from tui_mtl.engine import Session

    session = Session(preset, base_dir=run_dir)
    session.load_checkpoint(checkpoint_file)
    export_model(session.model, out)
    print(f"wrote {out} (step {session.step_count}; outputs {', '.join(session.head_names)}); "
          f"load it with keras.models.load_model")
    return 0


def export_model(model, out: Path) -> None:
    """Save atomically: Keras writes to a temporary name in the same folder, then it is renamed."""
    import os
    import tempfile

    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{out.stem}.", suffix=".keras", dir=out.parent)
    os.close(fd)
    try:
        model.save(tmp)
        os.replace(tmp, out)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def comparison_table(comparison) -> str:
    branches = comparison.branches
    first = next(iter(branches.values()))
    rows = [("head", "branch", "train", "best", "val loss", "val metric", "")]
    for head in first.preset.model.heads:
        results = {name: branch.validate() for name, branch in branches.items()}
        best = min(results, key=lambda name: results[name][0][head.name])
        for name, branch in branches.items():
            val_loss, val_metric = results[name]
            report = branch.last_report
            rows.append((head.name, name, _fmt(report.train_loss.get(head.name) if report else None),
                         _fmt(branch.history.best_train.get(head.name)), _fmt(val_loss[head.name]),
                         f"{head.metric} {val_metric[head.name]:.4g}", "* best val" if name == best else ""))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    for name, branch in branches.items():
        steps = branch.step_count - comparison.fork_step
        rate = steps / branch._train_seconds if branch._train_seconds else 0.0
        lines.append(f"{name}: {steps} steps at {rate:.0f} steps/s")
    return "\n".join(lines)


def cmd_compare(args: argparse.Namespace) -> int:
    preset_path = find_preset_path(args.preset)
    preset = read_preset(preset_path)
    if args.seed is not None:
        preset = preset.with_changes(data={"seed": args.seed})
    if args.steps is not None and args.steps <= 0:
        raise UsageError(f"--steps must be a positive number of steps, got {args.steps}")
    if args.warmup < 0:
        raise UsageError(f"--warmup must be >= 0, got {args.warmup}")
    strategies = [name.strip() for name in args.strategies.split(",") if name.strip()]
    if not strategies:
        raise UsageError("--strategies: name at least one strategy, e.g. --strategies summed,grouped")
    from tui_mtl.strategies.registry import parse_strategy_name

    for name in strategies:
        try:
            parse_strategy_name(name)
        except ValueError as err:
            raise UsageError(f"--strategies: {err}") from None
    writer = MetricsWriter(args.metrics_out) if args.metrics_out else None

    options = _session_options(args)
    from tui_mtl.engine import Session

    session = Session(preset, base_dir=preset_path.parent, report_interval=0.5, **options)
    heads = preset.model.head_names
    steps = args.steps or preset.training.steps
    if args.warmup:
        print(f"{preset.name}: warming up {args.warmup} steps with {session.strategy}", flush=True)
        if not args.quiet:
            session.subscribe(ProgressPrinter(heads, 0))
        session.run(args.warmup)
    comparison = session.fork(strategies)
    print(f"forked at step {comparison.fork_step} into {', '.join(comparison.branches)}; "
          f"{steps} steps each on the same batches", flush=True)

    def on_reports(reports: dict) -> None:
        if writer:
            row = {"step": next(iter(reports.values())).step}
            for name, report in reports.items():
                row.update({f"{name}:{key}": value for key, value in report.as_row().items() if key != "step"})
            writer.write_row(row)
        if not args.quiet and any(r.state == "running" for r in reports.values()):
            step = next(iter(reports.values())).step
            parts = [f"{name} " + " ".join(_fmt(r.train_loss.get(h)) for h in heads) for name, r in reports.items()]
            print(f"step {step}  " + "  |  ".join(parts), flush=True)

    comparison.subscribe(on_reports)
    try:
        with stop_on_signals(comparison):
            comparison.run(steps)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
    finally:
        if writer:
            writer.close()
    print(f"per-head results (train: mean over the last report; val: the held-out set; losses for {', '.join(heads)})")
    print(comparison_table(comparison))
    if writer:
        print(f"metrics written to {writer.path}")
    return 0


# --- in the browser ----------------------------------------------------------------------


def serve_command(args: argparse.Namespace) -> str:
    """The shell command textual-serve runs for each browser tab: this Python, this package, the app."""
    parts = [sys.executable, "-m", "tui_mtl"]
    if args.preset:
        path = find_preset_path(args.preset)
        read_preset(path)  # a bad preset is refused before the server starts
        parts.append(str(path.resolve()))  # the tab's process may start elsewhere: pass the file itself
    parts += ["--fps", str(args.fps)]
    if args.runs_dir:
        parts += ["--runs-dir", str(Path(args.runs_dir).expanduser().resolve())]
    return shlex.join(parts)


def cmd_serve(args: argparse.Namespace) -> int:
    if not 0 < args.port < 65536:
        raise UsageError(f"--port must be between 1 and 65535, got {args.port}")
    if args.fps <= 0:
        raise UsageError(f"--fps must be a positive number, got {args.fps}")
    command = serve_command(args)
    try:
        from textual_serve.server import Server
    except ImportError:
        raise UsageError("tui-mtl serve needs textual-serve: pip install 'tui-mtl[serve]' "
                         "(or pip install textual-serve)") from None
    server = Server(command, host=args.host, port=args.port, title="tui-mtl", public_url=args.public_url)
    print(f"tui-mtl: serving on {server.public_url} (each browser tab runs its own session; ctrl+c stops)",
          flush=True)
    server.serve()
    return 0


# --- entry point -------------------------------------------------------------------------


def entry() -> None:
    """The console script: `main()`, then, once TensorFlow is loaded, an immediate exit. Everything
    is saved and flushed by then, and TensorFlow's interpreter teardown would add ~1 s to a SIGTERM
    or a finished run."""
    code = main()
    if "tensorflow" in sys.modules:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(OSError, ValueError):  # ValueError: closed by a broken pipe
                stream.flush()
        os._exit(code)
    raise SystemExit(code)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        if argv and argv[0] == "run":
            return cmd_run(_run_parser().parse_args(argv[1:]))
        if argv and argv[0] == "resume":
            return cmd_resume(_resume_parser().parse_args(argv[1:]))
        if argv and argv[0] == "export":
            return cmd_export(_export_parser().parse_args(argv[1:]))
        if argv and argv[0] == "compare":
            return cmd_compare(_compare_parser().parse_args(argv[1:]))
        if argv and argv[0] == "presets":
            return cmd_presets(_presets_parser().parse_args(argv[1:]))
        if argv and argv[0] == "serve":
            return cmd_serve(_serve_parser().parse_args(argv[1:]))
        args = _ui_parser().parse_args(argv)
        if args.version:
            from tui_mtl import __version__

            print(f"tui-mtl {__version__}")
            return 0
        if args.preset:
            read_preset(find_preset_path(args.preset))  # a bad preset is refused before the UI starts
        if args.fps <= 0:
            raise UsageError(f"--fps must be a positive number, got {args.fps}")
        return _start_ui(args)
    except TuiMtlError as err:
        print(f"tui-mtl: error: {err}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # e.g. `tui-mtl presets | head`
        with contextlib.suppress(OSError):
            sys.stdout.close()
        return 0


def _start_ui(args: argparse.Namespace) -> int:
    try:
        from tui_mtl.ui.app import run_app
    except ImportError:
        print("tui-mtl: the terminal app is not available in this build; "
              "use `tui-mtl run PRESET` to train headless.", file=sys.stderr)
        return 1
    from tui_mtl.ui.session_source import check_session_options

    options = {"gpus": args.gpus, "devices": args.devices, "mixed_precision": args.mixed_precision,
               "memory_growth": not args.no_memory_growth}
    try:  # checked here, without TensorFlow; the worker configures the devices before the Session
        check_session_options(options)
    except ValueError as err:
        raise UsageError(f"--gpus/--devices: {err}") from None
    return run_app(args.preset, fps=args.fps, runs_dir=args.runs_dir, session_options=options, exit_process=True)
