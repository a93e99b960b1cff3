"""The dashboard's keys in one place: the footer, the help screen and the command palette read it."""

from __future__ import annotations

from dataclasses import dataclass

from textual.binding import Binding


@dataclass(frozen=True)
class Key:
    key: str  # Textual key name(s), comma separated
    action: str  # action name on the dashboard screen
    label: str  # short footer label
    help: str  # one line for the help screen and the command palette
    shown: str  # how the key is written for people
    footer: bool = True


DASHBOARD_KEYS: tuple[Key, ...] = (
    Key("space", "toggle_pause", "Pause", "Pause or resume training (after the end: train another run)", "space"),
    Key("s", "next_strategy", "Strategy", "Switch to the next strategy", "s"),
    Key("S", "previous_strategy", "", "Switch to the previous strategy", "S", footer=False),
    Key("up,k", "cursor_up", "Head ↑", "Select the head above", "↑ / k", footer=False),
    Key("down,j", "cursor_down", "Head ↓", "Select the head below", "↓ / j", footer=False),
    Key("right_square_bracket", "lr_up", "LR×2", "Double the selected head's learning rate", "]"),
    Key("left_square_bracket", "lr_down", "LR÷2", "Halve the selected head's learning rate", "["),
    Key("e", "edit", "Edit", "Edit the selected head: learning rate, weight, loss scale", "e"),
    Key("f", "fork", "Fork", "Fork: compare strategies from this point on the same batches", "f"),
    Key("v", "cycle_view", "View", "Branches: overlay, or one branch at a time (cycles)", "v", footer=False),
    Key("b", "next_branch", "", "Branches: select the next branch (the one the keys act on)", "b", footer=False),
    Key("x", "drop_branch", "", "Branches: drop the selected branch", "x", footer=False),
    Key("c", "checkpoint", "Ckpt", "Save a checkpoint of the run now (also saved on quit)", "c"),
    Key("ctrl+s", "save", "Save", "Save the session (strategy, rates, weights in force) as a preset", "ctrl+s"),
    Key("r", "restart", "Restart", "Restart from fresh weights (asks first)", "r"),
    Key("d", "toggle_diagnostics", "Diag", "Diagnostics: gradient norms, update shares, cosines, weights",
        "d"),
    Key("l", "toggle_log", "Log", "Toggle the plots' log10 scale", "l"),
    Key("question_mark", "help", "Help", "Show all keys", "?"),
    Key("q", "quit", "Quit", "Stop training and quit", "q"),
)

STRATEGY_KEY_COUNT = 9  # 1..9 pick a strategy directly


def dashboard_bindings() -> list[Binding]:
    bindings = [Binding(k.key, k.action, k.label, show=k.footer) for k in DASHBOARD_KEYS if k.action != "quit"]
    bindings += [Binding(str(i), f"pick_strategy({i - 1})", f"strategy {i}", show=False)
                 for i in range(1, STRATEGY_KEY_COUNT + 1)]
    return bindings
