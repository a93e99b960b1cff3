"""The dashboard's keys in one place: the footer, the help screen and the command palette read it."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from textual.binding import Binding


class Action(str, Enum):
    """Every dashboard action (the screen has an `action_<value>` for each)."""

    PAUSE = "pause"
    RESUME = "resume"
    EXTEND = "extend"
    NEXT_STRATEGY = "next_strategy"
    PREVIOUS_STRATEGY = "previous_strategy"
    PICK_STRATEGY = "choose_strategy"
    REWIND_SHOWN = "rewind_shown"  # the same as REWIND, in the footer while a fault waits
    CURSOR_UP = "cursor_up"
    CURSOR_DOWN = "cursor_down"
    LR_UP = "lr_up"
    LR_DOWN = "lr_down"
    EDIT = "edit"
    REWIND = "rewind"
    FORK = "fork"
    SWEEP_RATE = "sweep_rate"
    CYCLE_VIEW = "cycle_view"
    NEXT_BRANCH = "next_branch"
    DROP_BRANCH = "drop_branch"
    CHECKPOINT = "checkpoint"
    SAVE = "save"
    RESTART = "restart"
    DIAGNOSTICS = "toggle_diagnostics"
    LOG = "toggle_log"
    BACK = "back"
    HELP = "help"
    QUIT = "quit"


RATE_GROUP = Binding.Group("LR ×2 ÷2", compact=True)  # ] and [ share one footer label


@dataclass(frozen=True)
class Key:
    key: str  # Textual key name(s), comma separated
    action: Action
    label: str  # short footer label
    help: str  # one line for the help screen and the command palette
    shown: str  # how the key is written for people
    footer: bool = True
    group: Binding.Group | None = None


DASHBOARD_KEYS: tuple[Key, ...] = (
    Key("space", Action.PAUSE, "Pause", "Pause training", "space"),
    Key("space", Action.RESUME, "Resume", "Resume training (after a pause or a fault: the same run goes on)",
        "space"),
    Key("space", Action.EXTEND, "Train on", "After the end of a run: train the preset's steps again", "space"),
    Key("s", Action.NEXT_STRATEGY, "Strategy", "Switch to the next strategy", "s"),
    Key("S", Action.PREVIOUS_STRATEGY, "", "Switch to the previous strategy", "S", footer=False),
    Key("t", Action.PICK_STRATEGY, "All…", "Pick any strategy by name (every aggregator, layout and weighting)",
        "t", footer=False),
    Key("up,k", Action.CURSOR_UP, "Head ↑", "Select the head above", "↑ / k", footer=False),
    Key("down,j", Action.CURSOR_DOWN, "Head ↓", "Select the head below", "↓ / j", footer=False),
    Key("right_square_bracket", Action.LR_UP, "LR×2", "Double the selected head's learning rate", "]",
        group=RATE_GROUP),
    Key("left_square_bracket", Action.LR_DOWN, "LR÷2", "Halve the selected head's learning rate", "[",
        group=RATE_GROUP),
    Key("e", Action.EDIT, "Edit", "Edit the selected head: learning rate, weight, loss scale", "e"),
    Key("z", Action.REWIND_SHOWN, "Rewind", "Rewind to the snapshot before the last change (again: further back)",
        "z"),
    Key("z", Action.REWIND, "Rewind", "Rewind to the snapshot before the last change (again: further back)", "z",
        footer=False),
    Key("f", Action.FORK, "Fork", "Fork: compare strategies from this exact point on the same batches", "f"),
    Key("o", Action.SWEEP_RATE, "", "Sweep the selected head's rate: 8 short trials a decade either side, in "
        "the background (tui-mtl sweep), in a table as they finish; training pauses", "o", footer=False),
    Key("v", Action.CYCLE_VIEW, "View", "Branches: overlay, or one branch at a time (cycles)", "v"),
    Key("b", Action.NEXT_BRANCH, "Branch", "Branches: select the next branch (the one the keys act on)", "b"),
    Key("x", Action.DROP_BRANCH, "", "Branches: drop the selected branch (asks first)", "x", footer=False),
    Key("c", Action.CHECKPOINT, "Ckpt", "Save a checkpoint of the run now (also saved on quit)", "c", footer=False),
    Key("ctrl+s", Action.SAVE, "Save", "Save the settings in force (strategy, rates, weights) as a preset",
        "ctrl+s"),
    Key("r", Action.RESTART, "Restart", "Restart from fresh weights (asks first)", "r", footer=False),
    Key("d", Action.DIAGNOSTICS, "Diag", "Diagnostics: gradient norms, update shares, cosines, weights", "d",
        footer=False),
    Key("l", Action.LOG, "Log", "Toggle log10 scale on the plots shown (remembered for this preset)", "l"),
    Key("escape", Action.BACK, "Back", "Back to the preset picker (when the session could not start)", "esc",
        footer=False),
    Key("question_mark", Action.HELP, "Help", "Show all keys and strategies", "?"),
    Key("q", Action.QUIT, "Quit", "Stop training, save the final checkpoint and quit", "q"),
)

STRATEGY_KEY_COUNT = 9  # 1..9 pick one of the first nine strategies


def dashboard_bindings() -> list[Binding]:
    bindings = [Binding(k.key, k.action.value, k.label, show=k.footer, group=k.group) for k in DASHBOARD_KEYS
                if k.action is not Action.QUIT]
    bindings += [Binding(str(i), f"pick_strategy({i - 1})", f"strategy {i}", show=False)
                 for i in range(1, STRATEGY_KEY_COUNT + 1)]
    return bindings


PICKER_KEYS: tuple[tuple[str, str], ...] = (
    ("↑ / ↓", "Browse presets and recent runs"),
    ("enter", "Train the highlighted preset, or continue the highlighted run from its checkpoint"),
    ("f5", "Scan the preset folders and runs again"),
    ("ctrl+p", "Command palette"),
    ("?", "This help"),
    ("q", "Quit"),
)
