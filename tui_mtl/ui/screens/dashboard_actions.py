"""The dashboard's key actions: each sends one command to the session (or the comparison) and notes
what was asked for in the view model. Mixed into DashboardScreen, which provides `model`, `session`,
`comparison`, `worker`, `send`, `refresh_text` and the widgets."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from textual import work
from textual.app import SystemCommand

from tui_mtl.engine.settings import TRUNK
from tui_mtl.engine.state import State
from tui_mtl.presets import save_user_preset, shipped_names, user_preset_path, user_presets_dir
from tui_mtl.strategies.catalog import parse_strategy
from tui_mtl.ui import remembered
from tui_mtl.ui.formatting import fmt_rate
from tui_mtl.ui.keys import DASHBOARD_KEYS, Action
from tui_mtl.ui.messages import Toast
from tui_mtl.ui.screens.dialogs import ConfirmScreen, EditHeadScreen, HeadEdit, SavePresetScreen, SaveRequest
from tui_mtl.ui.screens.fork_dialog import ForkRequest, ForkScreen
from tui_mtl.ui.screens.help import HelpScreen
from tui_mtl.ui.screens.kept import kept_screen
from tui_mtl.ui.screens.strategy_picker import StrategyPickerScreen
from tui_mtl.ui.widgets.diagnostics import DiagnosticsPanel
from tui_mtl.ui.widgets.head_table import HeadTable
from tui_mtl.runs import folder_name

SAVE_WAIT_SECONDS = 30.0  # a first trace of a big model can take this long; a quit releases the wait


class DashboardActions:
    model: Any
    session: Any
    comparison: Any
    job: Any
    sweep_trials: Any

    # --- training --------------------------------------------------------------------------

    def _trainer(self) -> Any:
        """What space and rewind act on: the comparison (every branch together) or the session."""
        return self.comparison if self.comparison is not None else self.session

    def action_pause(self) -> None:
        if self.send(lambda: self._trainer().pause()):
            self.model.say("paused: space resumes")
            self.refresh_text()

    def action_resume(self) -> None:
        if self.send(lambda: self._trainer().resume()):
            self.model.say(None)
            self.refresh_text()

    def action_extend(self) -> None:
        steps = self.preset.training.steps
        if self.send(lambda: self._trainer().extend(steps)):
            self.model.say(f"training {steps:,} more steps")
            self.refresh_text()

    def action_rewind_shown(self) -> None:
        self.action_rewind()

    def action_rewind(self) -> None:
        if self.send(lambda: self._trainer().rewind()):
            self.model.say("rewinding…")
            self._plots_dirty = True
            self.refresh_text()

    def action_restart(self) -> None:
        if self.comparison is not None:
            self.notify("Restart is not available during a comparison: drop branches (x) or quit.",
                        severity="warning")
            return
        if self.session is None:
            self.send(lambda: None)
            return

        def done(yes: bool | None) -> None:
            if yes and self.send(self.session.reset):
                self.model.pending.clear()
                self.model.say("restarting from fresh weights…")
                self._plots_dirty = True
                self.refresh_text()

        question = ("Restart from fresh weights?\nEvery optimizer's state and the plotted history are cleared; "
                    "rates, weights and strategy stay.")
        report = self.model.report
        fault = report.fault if report is not None and self.model.state is State.FAULTED else None
        if fault is not None and fault.blamed:  # the usual trap: restarting with the setting that broke it
            question += (f"\nThe fault was blamed on {fault.blamed.rsplit(' at step', 1)[0]}: if it is still in force, "
                         f"set it back first (e), or the restarted run faults again.")
        self.app.push_screen(ConfirmScreen(question), done)

    # --- strategies ------------------------------------------------------------------------

    def action_next_strategy(self) -> None:
        self._step_strategy(+1)

    def action_previous_strategy(self) -> None:
        self._step_strategy(-1)

    def _step_strategy(self, direction: int) -> None:
        names = self.model.strategies
        current = self.model.strategy_shown()
        index = (names.index(current) + direction) % len(names) if current in names else 0
        self.action_pick_strategy(index)

    def action_pick_strategy(self, index: int) -> None:
        names = self.model.strategies
        if not 0 <= index < len(names):
            self.notify(f"There is no strategy {index + 1}; keys 1–{len(names)} pick one.", severity="warning")
            return
        self.set_strategy(names[index])

    def set_strategy(self, name: str) -> None:
        if self.send(lambda: self.session.set_strategy(name)):
            self.model.pending.set_strategy(parse_strategy(name).canonical, self.session.submitted)
            self.refresh_text()

    def action_choose_strategy(self) -> None:
        def done(name: str | None) -> None:
            if name:
                self.set_strategy(name)

        self.app.push_screen(StrategyPickerScreen(self.model.strategy_shown()), done)

    # --- heads -----------------------------------------------------------------------------

    def action_cursor_up(self) -> None:
        self.query_one(HeadTable).action_cursor_up()

    def action_cursor_down(self) -> None:
        self.query_one(HeadTable).action_cursor_down()

    def _set_lr(self, head: str, rate: float) -> None:
        if self.send(lambda: self.session.set_lr(head, rate)):
            self.model.pending.set_lr(head, rate, self.session.submitted)
            self.refresh_text()

    def action_lr_up(self) -> None:
        head = self.selected_head
        if head is not None:
            self._set_lr(head, self.model.rate_of(head) * 2)

    def action_lr_down(self) -> None:
        head = self.selected_head
        if head is not None:
            self._set_lr(head, self.model.rate_of(head) / 2)

    def action_edit(self) -> None:
        head = self.selected_head
        if head is None:
            return
        model = self.model
        values = (model.rate_of(TRUNK),) if head == TRUNK else \
            (model.rate_of(head), model.weight_of(head), model.scale_of(head))
        screen = kept_screen(self.app, f"edit-{head}", len(values), EditHeadScreen,
                             lambda: EditHeadScreen(head, *values))
        screen.reset(*values)

        def done(edit: HeadEdit | None) -> None:
            if edit is None:
                return
            if edit.learning_rate is not None:
                self._set_lr(head, edit.learning_rate)
            if edit.weight is not None and self.send(lambda: self.session.set_weight(head, edit.weight)):
                model.pending.set_weight(head, edit.weight, self.session.submitted)
            if edit.loss_scale is not None and self.send(lambda: self.session.set_loss_scale(head, edit.loss_scale)):
                model.pending.set_scale(head, edit.loss_scale, self.session.submitted)
            self.refresh_text()

        self.app.push_screen(screen, done)

    # --- views -----------------------------------------------------------------------------

    def action_toggle_log(self) -> None:
        """Log10 on the plots shown: the losses, or the diagnostics' gradient norms and weights."""
        self.model.log_scale = not self.model.log_scale
        remembered.remember_log_scale(self.preset.name, self.model.log_scale)
        with self.plots_in_turn():
            for plot in self.visible_plots():
                plot.set_log(self.model.log_scale)

    def action_toggle_diagnostics(self) -> None:
        """Show the diagnostics panel in place of the loss plots (and back)."""
        self.model.show_diagnostics = not self.model.show_diagnostics
        self.query_one("#plots").display = not self.model.show_diagnostics
        self.query_one(DiagnosticsPanel).set_class(self.model.show_diagnostics, "-shown")
        self.refresh_text()
        with self.plots_in_turn(first_now=False):  # the key's frame draws the new layout and its text
            for plot in self.visible_plots():
                plot.set_log(self.model.log_scale)
            self.replot()

    def action_help(self) -> None:
        strategies = self.model.strategies
        screen = kept_screen(self.app, "help", strategies, HelpScreen, lambda: HelpScreen(strategies))
        screen.reset()
        self.app.push_screen(screen)

    def action_back(self) -> None:
        if hasattr(self.app, "back_to_picker"):
            self.app.back_to_picker()

    # --- run folder, presets ---------------------------------------------------------------

    def _checkpoint_path(self) -> Path | None:
        if self.run_dir is None:
            return None
        if self.model.branches is not None:
            return Path(self.run_dir) / "branches" / folder_name(self.model.branches.current) / "checkpoint.npz"
        return Path(self.run_dir) / "checkpoint.npz"

    def action_checkpoint(self) -> None:
        """Save a checkpoint now: at the next step boundary, in the training thread."""
        path = self._checkpoint_path()
        if path is None:
            self.notify("This session has no run folder, so there is nowhere to save a checkpoint.",
                        severity="warning")
            return

        def done(saved: Path | None, error: Exception | None) -> None:  # the training thread
            text = f"checkpoint saved → {saved}" if saved else f"checkpoint not saved: {error}"
            self.post_message(Toast(text, severity="information" if saved else "error"))

        if self.send(lambda: self.session.save_checkpoint(path, done)):
            self.model.say(f"checkpoint requested → {path}")
            self.refresh_text()

    def action_save(self) -> None:
        if self.session is None:
            self.send(lambda: None)
            return
        strategy = self.model.strategy_shown().replace("+", "-").replace("@", "-")
        default = f"{self.preset.name}-{strategy}"[:64]
        folder = user_presets_dir()
        shipped = shipped_names()

        def exists(name: str) -> str | None:
            if user_preset_path(name).exists():
                return f"a preset named {name!r} exists in {folder}: saving asks before replacing it"
            if name in shipped:
                return f"{name!r} is a shipped preset: saving asks before shadowing it"
            return None

        def done(request: SaveRequest | None) -> None:
            if request is None:
                return
            problem = exists(request.name)
            if problem is None:
                self._save_worker(self.session, request, False)
                return
            shadow = request.name in shipped and not user_preset_path(request.name).exists()
            question = (f"{request.name!r} is a shipped preset.\nA user preset of that name will be used instead "
                        f"of it from now on (tui-mtl {request.name}, the picker).\nSave anyway?" if shadow else
                        f"A preset named {request.name!r} exists in {folder}.\nReplace it?")

            def confirmed(yes: bool | None) -> None:
                if yes:
                    self._save_worker(self.session, request, True)
                else:
                    self.notify("Not saved.", severity="warning")

            self.app.push_screen(ConfirmScreen(question, yes="Save" if shadow else "Replace", no="Keep"), confirmed)

        screen = kept_screen(self.app, "save", None, SavePresetScreen,
                             lambda: SavePresetScreen(default, self.preset.description, str(folder), exists))
        screen.reset(default, self.preset.description, str(folder), exists)
        self.app.push_screen(screen, done)

    @work(thread=True, group="save", exit_on_error=False, name="save")
    def _save_worker(self, session: Any, request: SaveRequest, overwrite: bool) -> None:
        """Save once every change sent is in force (flush waits for the next step boundary), so the
        file holds what the user sees. post_message only: a quit meanwhile must not leave it waiting."""
        if not session.flush(SAVE_WAIT_SECONDS):
            self.post_message(Toast("Training did not reach a step boundary in time; saved the settings in force.",
                                    severity="warning"))
        try:
            preset = session.current_preset(name=request.name, description=request.description or None)
            path = save_user_preset(preset, overwrite=overwrite)
        except FileExistsError as err:
            self.post_message(Toast(f"{err} exists; not replaced.", severity="error"))
            return
        except Exception as err:  # noqa: BLE001 — validation or disk errors, shown in one line
            self.post_message(Toast(f"{type(err).__name__}: {err}", title="not saved", severity="error"))
            return
        rates = ", ".join(f"{h} {fmt_rate(preset.model.head(h).learning_rate)}" for h in preset.model.head_names)
        self.post_message(Toast(f"{path}\nstrategy {preset.strategy.name}; lr {rates}", title="preset saved"))

    # --- forks -----------------------------------------------------------------------------

    def action_fork(self) -> None:
        """Pick branches; training waits while the dialog is open, so the fork is from this exact step."""
        if self.session is None:
            self.send(lambda: None)
            return
        if self.comparison is not None or self.model.forking:
            self.notify("Already comparing branches: drop the ones you do not need (x).", severity="warning")
            return
        if self.model.state is State.RUNNING and self.send(self.session.pause):
            self.model.paused_for_dialog = True

        def done(request: ForkRequest | None) -> None:
            if request is None:
                if self.model.paused_for_dialog:
                    self.send(self.session.resume)
                    self.model.paused_for_dialog = False
                return
            if request.seeds > 1:
                if not self._compare_over_seeds(request) and self.model.paused_for_dialog:
                    self.send(self.session.resume)  # refused: training goes on as before the dialog
                    self.model.paused_for_dialog = False
                return
            self.model.forking = True
            self.model.say(f"forking into {', '.join(request.names)}…")
            self.worker.request_fork(request.branches)
            self.refresh_text()

        strategies, current, heads = self.model.strategies, self.model.strategy_shown(), self.model.heads
        step = self.model.report.step if self.model.report else 0
        screen = kept_screen(self.app, "fork", (strategies, current, tuple(heads)), ForkScreen,
                             lambda: ForkScreen(strategies, current, heads, step=step))
        screen.reset(step)
        self.app.push_screen(screen, done)

    def _compare_over_seeds(self, request: ForkRequest) -> bool:
        """`tui-mtl compare --seeds N` in a child process; this run stays paused (two trainings would
        share the cores)."""
        from tui_mtl.ui.seeds_job import SeedsJob

        if self._job_running():
            return False
        assert self.session is not None
        preset = self.session.current_preset()
        self.job = SeedsJob(self.post_message, preset, list(request.branches), request.seeds,
                            warmup=self.session.step_count, steps=preset.training.steps,
                            runs_root=getattr(self.app, "runs_root", None), run_dir=self.run_dir)
        self.job.start()
        self.model.paused_for_dialog = False  # stays paused: space resumes it
        self.model.say(f"× seeds: {', '.join(request.names)} over {request.seeds} seeds, in the background…")
        self.refresh_text()
        return True

    def _job_running(self) -> bool:
        """One child job at a time (said if one runs)."""
        if self.job is not None and self.job.running:
            self.notify("A background job (seeds or a sweep) is running: its answer comes first.", severity="warning")
            return True
        return False

    def action_sweep_rate(self) -> None:
        """`tui-mtl sweep` of the selected head's rate, a decade either side of its value, in a child
        process on the settings in force; training pauses meanwhile (two trainings would share the cores)."""
        from tui_mtl.ui.sweep_job import SweepJob

        if self.session is None:
            self.send(lambda: None)  # says why (still loading, or no session)
            return
        if self.comparison is not None:
            self.notify("A rate sweep starts from one run, not from branches.", severity="warning")
            return
        if isinstance(self.job, SweepJob) and self.job.running and self.sweep_trials is not None:
            self._show_sweep(self.job)  # o again while it runs: its table
            return
        if self._job_running():
            return
        head = self.selected_head
        if head is None:
            return
        preset = self.session.current_preset()
        layout = parse_strategy(preset.strategy.name).layout
        if head == TRUNK and layout != "summed":
            self.notify(f"Under the {layout} layout each head's optimizer moves the trunk at that head's rate: "
                        f"there is no trunk rate to sweep. Select a head.", severity="warning")
            return
        rate = self.model.rate_of(head)
        if self.model.state is State.RUNNING:
            self.send(self.session.pause)
        self.job = SweepJob(self.post_message, preset, head, rate, getattr(self.app, "runs_root", None),
                            self.run_dir)
        self.job.start()
        self.model.say(f"sweeping {head} lr {rate / 10:.3g}..{rate * 10:.3g}: {self.job.trials} trials of "
                       f"{self.job.steps} steps in the background (paused here)…")
        self.sweep_trials = self.job.table()
        self._show_sweep(self.job)
        self.refresh_text()

    def _show_sweep(self, job) -> None:
        from tui_mtl.ui.screens.sweep_table import SweepScreen

        assert self.sweep_trials is not None

        def taken(rate: float | None) -> None:
            if rate is not None:
                self._set_lr(job.head, rate)

        self.app.push_screen(SweepScreen(self.sweep_trials, job.strategy, job.steps), taken)

    def _need_comparison(self) -> bool:
        if self.comparison is None:
            self.notify("No branches: fork first (f).", severity="warning")
            return False
        return True

    def _select_branch(self, name: str) -> None:
        self.model.select_branch(name)
        self.session = self.comparison.branches[name]
        self._plots_dirty = True
        self.refresh_text()

    def action_cycle_view(self) -> None:
        if self._need_comparison():
            self.model.branches.cycle_view()
            self._select_branch(self.model.branches.current)
            self.replot()

    def action_next_branch(self) -> None:
        if self._need_comparison():
            self._select_branch(self.model.branches.select_next())
            self.replot()

    def action_drop_branch(self) -> None:
        if not self._need_comparison():
            return
        name = self.model.branches.current
        if len(self.model.branches.names) == 1:
            self.notify(f"{name} is the last branch; it cannot be dropped.", severity="warning")
            return

        def done(yes: bool | None) -> None:
            if not yes or not self.send(lambda: self.comparison.drop(name)):
                return
            self.model.branches.drop(name)
            self.model.say(f"dropped branch {name}")
            self._select_branch(self.model.branches.current)
            self.replot()

        self.app.push_screen(ConfirmScreen(f"Drop branch {name}?\nIts training stops and it leaves the comparison "
                                           "(its run folder stays).", yes="Drop", no="Keep"), done)

    # --- command palette -------------------------------------------------------------------

    def palette_commands(self):
        from tui_mtl.strategies.catalog import all_strategies

        for key in DASHBOARD_KEYS:
            if key.action in (Action.QUIT, Action.CURSOR_UP, Action.CURSOR_DOWN, Action.BACK):
                continue
            if not self.check_action(key.action.value, ()):
                continue
            yield SystemCommand(key.help.split(" (")[0], f"key: {key.shown}",
                                lambda action=key.action: self.run_action(action.value))
        quick = self.model.strategies[:9]
        for name in all_strategies():
            key = f"key {quick.index(name) + 1} · " if name in quick else ""
            yield SystemCommand(f"Strategy: {name}", key + parse_strategy(name).describe(),
                                lambda name=name: self.set_strategy(name))
