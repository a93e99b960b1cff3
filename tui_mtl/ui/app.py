"""The Textual app and its entry point `run_app`.

Neither TensorFlow nor `tui_mtl.engine` is imported here: the dashboard's worker thread imports
them (see `session_source.py`), so the first frame is on screen before TensorFlow loads.
"""

from __future__ import annotations

import functools
import os
import signal
import sys
from pathlib import Path
from typing import Any, Callable, Iterable

from textual import events
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.screen import Screen

from tui_mtl.devices import DeviceOptions
from tui_mtl.errors import PresetError, TuiMtlError
from tui_mtl.presets import Preset, find_preset_path, read_preset
from tui_mtl.strategies.catalog import STRATEGY_NAMES
from tui_mtl.ui.screens.dashboard import DashboardScreen
from tui_mtl.ui.screens.help import HelpScreen
from tui_mtl.ui.screens.picker import PickerScreen
from tui_mtl.ui.screens.too_small import TooSmallScreen
from tui_mtl.ui.session_source import describe_device, open_recorder, open_session
from tui_mtl.ui.stderr import StderrRedirect

MIN_SIZE = (80, 24)
DEFAULT_FPS = 30


def apply_fps(fps: int) -> None:
    """Cap Textual's screen refresh rate (it reads TEXTUAL_FPS when first imported)."""
    fps = max(1, int(fps))
    os.environ["TEXTUAL_FPS"] = str(fps)
    import textual.constants
    import textual.screen

    textual.constants.MAX_FPS = fps
    textual.screen.UPDATE_PERIOD = 1 / fps


class TuiMtlApp(App[int]):
    CSS_PATH = "app.tcss"
    TITLE = "tui-mtl"
    ENABLE_COMMAND_PALETTE = True
    BINDINGS = [
        Binding("q", "quit", "Quit"),
        Binding("question_mark", "help", "Help"),
        Binding("ctrl+c", "quit", "Quit", show=False, priority=True),
    ]

    def __init__(self, preset: Preset | None = None, preset_path: Path | None = None, *,
                 session_factory: Callable | None = None, device_probe: Callable | None = None,
                 runs_root: Path | str | None = None, stderr: StderrRedirect | None = None,
                 plot_hz: float = 2.0, make_run_dir: bool = True, recorder_factory: Callable | None = None,
                 devices: DeviceOptions | None = None, handle_signals: bool = False, **kwargs) -> None:
        super().__init__(**kwargs)
        self.initial_preset = preset
        self.initial_preset_path = preset_path
        self.devices = devices or DeviceOptions()
        self.session_factory = session_factory or functools.partial(open_session, devices=self.devices)
        self._own_factory = session_factory is None
        self.recorder_factory = recorder_factory or open_recorder
        self.handle_signals = handle_signals
        self.signal_received: str | None = None
        self.device_probe = device_probe or describe_device
        self.runs_root = Path(runs_root) if runs_root else None
        self.stderr_redirect = stderr
        self.plot_hz = plot_hz
        self.make_run_dir = make_run_dir
        self.dashboard: DashboardScreen | None = None
        self.run_dir: Path | None = None
        self.animation_level = "none"

    def on_mount(self) -> None:
        if self.handle_signals:
            self._install_signal_handlers()
        if self.stderr_redirect is not None:
            self.begin_capture_print(self, stdout=True, stderr=True)
        if self.initial_preset is not None:
            self.open_dashboard(self.initial_preset, self.initial_preset_path, replace=False)
        else:
            self.push_screen(PickerScreen())
        self._check_size(self.size.width, self.size.height)

    def on_print(self, event: events.Print) -> None:
        """Python-level prints and warnings (any thread) go to the run's stderr log, not the screen."""
        if self.stderr_redirect is not None:
            self.stderr_redirect.write(event.text)

    def open_dashboard(self, preset: Preset, preset_path: Path | None, replace: bool = True, *,
                       resume_run: Path | None = None) -> None:
        """Train `preset` in a new run folder, or continue the run folder `resume_run` from its checkpoint."""
        base_dir = preset_path.parent if preset_path else None
        if preset_path is not None:  # absolute data paths: the run folder's copy must find the files
            preset = preset.with_absolute_paths(preset_path.parent)
        resume_from = None
        if resume_run is not None:
            self.run_dir = Path(resume_run)
            base_dir = self.run_dir
            resume_from = self.run_dir / "checkpoint.npz"
        elif self.make_run_dir:
            from tui_mtl.runs import new_run_dir

            try:
                self.run_dir = new_run_dir(preset.name, self.runs_root)
            except OSError as err:
                self.notify(f"No run folder: {err}", severity="warning")
        if self.run_dir is not None and self.stderr_redirect is not None:
            try:
                self.stderr_redirect.attach(self.run_dir / "stderr.log")
            except OSError as err:
                self.notify(f"No stderr log: {err}", severity="warning")
        factory = self.session_factory
        if resume_from is not None and self._own_factory:  # a resumed run keeps its own precision
            factory = functools.partial(open_session, devices=self.devices,
                                        mixed_precision=saved_precision(resume_from))
        self.dashboard = DashboardScreen(preset, preset_path, session_factory=factory,
                                         device_probe=self.device_probe, run_dir=self.run_dir,
                                         plot_hz=self.plot_hz, recorder_factory=self.recorder_factory,
                                         resume_from=resume_from, base_dir=base_dir)
        if replace:
            self.switch_screen(self.dashboard)
        else:
            self.push_screen(self.dashboard)

    # --- terminal size -------------------------------------------------------------------

    def on_resize(self, event: events.Resize) -> None:
        self._check_size(event.size.width, event.size.height)

    def _check_size(self, width: int, height: int) -> None:
        small = width < MIN_SIZE[0] or height < MIN_SIZE[1]
        top = self.screen_stack[-1] if self.screen_stack else None
        if small:
            if isinstance(top, TooSmallScreen):
                top.show((width, height))
            else:
                self.push_screen(TooSmallScreen(MIN_SIZE, (width, height)))
        elif isinstance(top, TooSmallScreen):
            self.pop_screen()

    # --- quitting ------------------------------------------------------------------------

    def _install_signal_handlers(self) -> None:
        """SIGTERM and SIGHUP (the SSH connection dropped) quit like `q`: the worker stops at the
        next step and writes the final checkpoint, then the terminal is restored."""
        import asyncio

        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, getattr(signal, "SIGHUP", None)):
            if sig is not None:
                try:
                    loop.add_signal_handler(sig, self._on_signal, sig)
                except (NotImplementedError, RuntimeError, ValueError):
                    pass

    def _on_signal(self, sig) -> None:
        self.signal_received = signal.Signals(sig).name
        if self.dashboard is not None:
            self.dashboard.shutdown()
        self.exit(0)

    async def action_quit(self) -> None:
        if self.dashboard is not None:
            self.dashboard.shutdown()
        self.exit(0)

    def action_help(self) -> None:
        self.push_screen(HelpScreen(STRATEGY_NAMES))

    def back_to_picker(self) -> None:
        """From a dashboard whose session could not start: pick another preset."""
        if self.dashboard is not None:
            self.dashboard.shutdown()
            self.dashboard = None
        self.run_dir = None
        self.switch_screen(PickerScreen())

    # --- command palette -----------------------------------------------------------------

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        commands = getattr(screen, "palette_commands", None)
        if commands is not None:
            yield from commands()
        yield from super().get_system_commands(screen)


def saved_precision(checkpoint_file: Path) -> str | None:
    """The precision a run was trained in (it continues in it unless --mixed-precision says otherwise)."""
    from tui_mtl.engine.checkpoint import CheckpointError, read_meta

    try:
        return read_meta(checkpoint_file).get("mixed_precision", "off")
    except CheckpointError:
        return None  # the worker's load reports an unreadable checkpoint


class HandedSession:
    """The session factory of an app opened on a Session built before it: that session first, then
    (another preset opened from the picker) a new one as usual."""

    def __init__(self, session: Any, devices: DeviceOptions | None) -> None:
        self._session = session
        self._devices = devices

    def __call__(self, preset: Any, base_dir: Path | None) -> Any:
        session, self._session = self._session, None
        if session is not None and preset.name == session.preset.name:
            return session
        return open_session(preset, base_dir, devices=self._devices)


def _driver_class(terminal):
    """Textual's Linux driver writes to fd 2; while fd 2 goes to the log, write to `terminal`."""
    from textual.drivers.linux_driver import LinuxDriver

    class TerminalDriver(LinuxDriver):
        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            self._file = terminal

    return TerminalDriver


def run_app(preset: str | None = None, *, fps: int = DEFAULT_FPS, runs_dir: str | None = None,
            devices: DeviceOptions | None = None, exit_process: bool = False,
            session_factory: Callable[[], Any] | None = None) -> int:
    """Run the terminal app: the picker (preset None) or straight to the dashboard. Returns an exit code.

    `session_factory`: a function returning the Session to train (e.g. Session.from_model on your own
    model), called before the app starts; the dashboard opens on it and its preset.

    `devices`: --gpus/--devices/--mixed-precision/--no-memory-growth, configured in the training
    worker before the Session is built.
    `exit_process`: end the process as soon as everything is saved and the terminal restored, skipping
    the interpreter's teardown of TensorFlow (seconds; a SIGTERM/SIGHUP must end within 2 s).
    """
    apply_fps(fps)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    loaded, path = None, None
    if preset is not None:
        try:
            path = find_preset_path(preset)
            loaded = read_preset(path)
        except PresetError as err:
            print(f"tui-mtl: {err}", file=sys.stderr)
            return 2
    use_redirect = sys.platform != "win32" and sys.__stderr__ is not None and sys.__stderr__.isatty()
    redirect = StderrRedirect() if use_redirect else None
    if redirect is not None:
        redirect.__enter__()
    app, failed = None, None
    try:
        handed = None
        if session_factory is not None:  # TensorFlow's own logging goes to the run's stderr.log
            print("tui-mtl: building your session (TensorFlow loads first: a few seconds)…",
                  file=redirect.terminal if redirect is not None else sys.stderr, flush=True)
            try:
                session = session_factory()
            except TuiMtlError as err:
                failed = f"tui-mtl: error: {err}"
                return 2
            loaded, handed = session.preset, HandedSession(session, devices)
        app = TuiMtlApp(loaded, path, runs_root=runs_dir, stderr=redirect, devices=devices,
                        handle_signals=True, session_factory=handed,
                        driver_class=_driver_class(redirect.terminal) if redirect else None)
        app.run()
        if app.dashboard is not None:  # the worker writes the final checkpoint after its last step
            app.dashboard.shutdown()
            if not app.dashboard.wait_finished():  # e.g. a quit during a long trace: keep waiting, say so
                print("tui-mtl: finishing the current step and writing the final checkpoint…", file=sys.stderr)
                app.dashboard.wait_finished(timeout=None)
    finally:
        if redirect is not None:
            redirect.__exit__(None, None, None)
        if failed:
            print(failed, file=sys.stderr)
    code = app.return_code if app is not None else 1
    if not code and app is not None:  # a quit before the session started leaves no empty run folder
        from tui_mtl.runs.folders import discard_if_unused

        discard_if_unused(app.run_dir)
    if code and redirect is not None and redirect.log_path is not None:
        print(f"tui-mtl: stopped with an error; details in {redirect.log_path}", file=sys.stderr)
    if exit_process and "tensorflow" in sys.modules:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:  # noqa: BLE001
                pass
        os._exit(code or 0)  # run folders are closed and flushed; TensorFlow's teardown is all that is left
    return code or 0
