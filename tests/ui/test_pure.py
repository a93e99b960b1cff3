"""The UI's pure helpers and its view model: formatting, downsampling, log ticks, markers, model
summary; what the dashboard shows for a given report, without Textual."""

from __future__ import annotations


from hypothesis import given, settings
from hypothesis import strategies as st

from tui_mtl.presets import load_preset
from tui_mtl.engine.reports import Event
from tui_mtl.ui.formatting import fmt_duration, fmt_rate, fmt_value, progress_text
from tui_mtl.ui.plotting import downsample, log_ticks, marker_label, prepare, to_log10
from tui_mtl.presets import check_preset_name
from tui_mtl.ui.screens.dialogs import parse_positive
from tui_mtl.ui.summary import count_params, describe


def test_formatting():
    assert fmt_rate(0.001) == "1e-03"
    assert fmt_rate(0.00125) == "1.25e-03"
    assert fmt_value(0.12345) == "0.1235"
    assert fmt_value(None) == "—"
    assert fmt_value(float("nan")) == "nan"
    assert fmt_duration(65) == "1:05"
    assert fmt_duration(3725) == "1:02:05"
    assert progress_text(1000, 2000, 200.0, "running") == "step 1,000/2,000 · 200 steps/s · 5.0 ms/step · ETA 0:05"
    assert "ETA —" in progress_text(1000, 2000, 200.0, "paused")
    assert "— steps/s" in progress_text(0, 2000, 0.0, "loading")


def test_parse_positive_and_names():
    assert parse_positive("1e-3", "lr") == (0.001, None)
    assert parse_positive("abc", "lr")[1] == "lr: must be a finite number > 0, got 'abc'"
    assert parse_positive("0", "lr")[1] == "lr: must be a finite number > 0, got '0'"
    assert parse_positive("0", "weight", allow_zero=True) == (0.0, None)
    assert parse_positive("inf", "lr")[1] == "lr: must be a finite number > 0, got 'inf'"
    assert parse_positive("-1", "weight", allow_zero=True)[1] == "weight: must be a finite number >= 0, got '-1'"
    assert parse_positive(" ", "lr")[1] == "lr: enter a finite number > 0"
    assert check_preset_name("my-run_2.b") is None
    assert check_preset_name("") is not None
    assert check_preset_name("bad name") is not None
    assert check_preset_name("../escape") is not None


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(0.001, 1000, allow_nan=False), min_size=0, max_size=3000), st.integers(4, 400))
def test_downsample_is_bounded_and_keeps_ends(values, buckets):
    steps = list(range(len(values)))
    xs, ys = downsample(steps, values, buckets)
    assert len(xs) == len(ys) <= max(buckets + 2, len(values) if len(values) <= buckets else 0)
    if values:
        assert xs[0] == 0 and ys[0] == values[0]
        assert xs[-1] == len(values) - 1 and ys[-1] == values[-1]
        assert min(values) - 1e-9 <= min(ys) and max(ys) <= max(values) + 1e-9
        assert xs == sorted(xs)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.one_of(st.floats(-1e6, 1e6), st.just(float("nan")), st.just(float("inf"))), max_size=2000),
       st.integers(4, 300))
def test_numpy_and_python_downsampling_agree(values, buckets):
    from tui_mtl.ui.plotting import _downsample_numpy, _downsample_python

    steps = [i * 1.5 for i in range(len(values))]
    xs1, ys1 = _downsample_numpy(steps, values, buckets)
    xs2, ys2 = _downsample_python(steps, values, buckets)
    assert len(xs1) == len(xs2)
    assert all(abs(a - b) <= 1e-6 * max(1.0, abs(b)) for a, b in zip(xs1 + ys1, xs2 + ys2))


def test_downsample_cost_does_not_grow_with_history():
    steps = list(range(1_000_000))
    xs, _ = downsample(steps, [1.0] * len(steps), 240)
    assert len(xs) <= 242


def test_downsample_drops_non_finite():
    xs, ys = downsample([0, 1, 2], [1.0, float("nan"), 2.0], 100)
    assert ys == [1.0, 2.0]


def test_log_transform_and_ticks():
    xs, ys = to_log10([0, 1, 2], [10.0, 0.0, 0.01])
    assert xs == [0, 2] and ys == [1.0, -2.0]
    ticks, labels = log_ticks(-2.2, 0.4)
    assert labels == ["0.01", "0.1", "1"]
    assert ticks == [-2.0, -1.0, 0.0]
    ticks, labels = log_ticks(-0.4, 0.1)  # inside a decade: 1-2-5 steps
    assert len(ticks) >= 2 and "1" in labels
    ticks, labels = log_ticks(-9, 3)
    assert len(ticks) <= 6 and "1e-8" in labels or "1e-9" in labels


def test_markers_labelled_and_placed():
    snapshot = {"train": (list(range(0, 1000, 10)), [1.0] * 100), "val": ([100, 200], [1.0, 0.9])}
    events = [Event(300, "strategy", "grouped"), Event(500, "lr", "shape lr=0.002"), Event(600, "pause", "paused"),
              Event(5000, "strategy", "summed")]
    data = prepare(snapshot, events, width=60, log=False, head="shape")
    assert data.markers == [(300, "grouped"), (500, "lr=0.002")]
    other = prepare(snapshot, events, width=60, log=False, head="size")
    assert other.markers[1] == (500, "shape lr")
    assert marker_label("reset", "restarted") == "reset"
    near_zero = prepare({"train": ([0, 1, 2], [1.0, 0.5, 0.001]), "val": ([], [])}, [], width=60, log=False)
    assert near_zero.ylim[0] == 0.0  # losses: the axis stops at 0, not below
    log = prepare(snapshot, events, width=60, log=True)
    assert log.yticks is not None and log.log


def test_summary_counts_parameters_without_tensorflow():
    preset = load_preset("quickstart")
    assert count_params(preset) == 18021  # keras' model.count_params() for this preset
    text = describe(preset)
    assert "18,021" in text and "shape" in text and "shapes" in text


def test_step_ticks_are_round_numbers():
    from tui_mtl.ui.plotting import step_ticks

    assert step_ticks(1, 1150, 3) == ([500, 1000], ["500", "1,000"])
    ticks, labels = step_ticks(0, 1_234_567, 4)
    assert labels[-1] == "1M" and len(ticks) <= 6
    assert step_ticks(0, 1, 3)[1] == ["0", "1"]


def test_linear_ticks_are_short_for_huge_losses():
    from tui_mtl.ui.plotting import linear_ticks

    ticks, labels = linear_ticks(0.0, 2.26e22)
    assert labels[0] == "0" and labels[-1] == "2.3e22" and all(len(label) <= 7 for label in labels)


def test_smoothing_is_an_ema_that_leaves_validation_alone():
    from tui_mtl.ui.plotting import smooth, smooth_series

    assert smooth([1.0, 0.0, 0.0], 0.5) == [1.0, 0.5, 0.25]
    series = smooth_series({"train": ([0, 1], [1.0, 0.0]), "val": ([0, 1], [1.0, 0.0])}, 0.5)
    assert series["train"][1] == [1.0, 0.5] and series["val"][1] == [1.0, 0.0]


# --- the view model -------------------------------------------------------------------------

def report(**changes):
    from tui_mtl.engine import Report, State

    base = dict(step=10, target_step=100, state=State.RUNNING, strategy="summed",
                train_loss={"a": 1.0, "b": 2.0}, total_loss=3.0, learning_rates={"trunk": 1e-3, "a": 1e-3, "b": 1e-3},
                weights={"a": 1.0, "b": 1.0}, steps_per_sec=100.0, elapsed=1.0, loss_scales={"a": 1.0, "b": 1.0})
    base.update(changes)
    return Report(**base)


def model():
    from tests.conftest import tiny_preset
    from tui_mtl.ui.view_model import DashboardModel

    heads = [{"name": "a", "target": "size"}, {"name": "b", "target": "x"}]
    return DashboardModel(tiny_preset(model={"heads": heads}, data={"source": "shapes",
                                                                     "params": {"image_size": 8, "samples": 64}}))


def test_pending_changes_show_until_a_report_has_applied_their_command():
    m = model()
    m.take(report())
    m.pending.set_lr("a", 2e-3, number=1)
    m.pending.set_strategy("grouped", number=2)
    assert m.strategy_shown() == "grouped" and m.rate_of("a") == 2e-3
    m.take(report(learning_rates={"trunk": 1e-3, "a": 2e-3, "b": 1e-3}, commands_applied=1))
    assert "a" not in m.pending.lr and m.pending.strategy == "grouped"
    m.take(report(strategy="grouped", commands_applied=2))
    assert not m.pending


def test_a_stale_report_showing_the_old_value_settles_nothing():
    """] then [ returns a rate to its old value: a late report from before either (showing that old
    value) used to settle the pending rate, and the next [ halved the stale doubled rate instead."""
    m = model()
    m.take(report(commands_applied=0))
    m.pending.set_lr("a", 2e-3, number=1)  # ]
    m.pending.set_lr("a", 1e-3, number=2)  # [
    m.take(report(learning_rates={"trunk": 1e-3, "a": 1e-3, "b": 1e-3}, commands_applied=0))  # stale
    assert m.rate_of("a") == 1e-3 and "a" in m.pending.lr
    m.take(report(learning_rates={"trunk": 1e-3, "a": 2e-3, "b": 1e-3}, commands_applied=1))  # after ] only
    assert m.rate_of("a") == 1e-3  # the next [ halves 1e-3, not the 2e-3 this report shows
    m.take(report(learning_rates={"trunk": 1e-3, "a": 1e-3, "b": 1e-3}, commands_applied=2))
    assert not m.pending and m.rate_of("a") == 1e-3


def test_space_means_pause_resume_or_train_on_by_state():
    from tui_mtl.engine import Fault, FaultKind, State
    from tui_mtl.ui.view_model import SpaceAction

    m = model()
    for state, action in ((State.RUNNING, SpaceAction.PAUSE), (State.PAUSED, SpaceAction.RESUME),
                          (State.FAULTED, SpaceAction.RESUME), (State.FINISHED, SpaceAction.EXTEND)):
        m.take(report(state=state))
        assert m.space_action() is action
    fault = Fault(FaultKind.LOSS, 12, "step 12: non-finite loss in a", "Rewind.", ("a",), "a lr=1e+09 at step 10", 10)
    m.take(report(state=State.FAULTED, fault=fault))
    text = m.error_text()
    assert text.startswith("step 12: non-finite loss in a.") and "z rewind to step 10" in text
    assert "space resume" in text
    m.take(report(state=State.RUNNING))
    assert m.error_text() is None


def test_the_best_branch_is_starred_and_never_a_diverged_or_nan_one():
    from tui_mtl.ui.view_model import DashboardModel

    values = [[1.0, 1.0, 0.5, False, True], [2.0, 2.0, 0.9, False, False], [3.0, 3.0, 0.7, False, False]]
    DashboardModel._star(values)
    assert [v[3] for v in values] == [False, False, True]  # 0.5 diverged: 0.7 wins
    values = [[1.0, 1.0, float("nan"), False, False], [2.0, 2.0, 0.9, False, False], [3.0, 3.0, None, False, False]]
    DashboardModel._star(values)
    assert [v[3] for v in values] == [True, False, False]  # not every branch validated: by train loss


def test_notes_expire():
    m = model()
    m.say("checkpoint saved", now=100.0)
    assert m.current_note(now=101.0) == "checkpoint saved"
    assert m.current_note(now=100.0 + m.NOTE_SECONDS + 1) is None


def test_a_comparison_row_stars_only_a_value_it_shows():
    from tui_mtl.ui.rows import CompareRow

    row = CompareRow("x", 0.001, False, values=((0.5, 0.4, None, True, False), (0.6, 0.5, 0.7, False, False),
                                                (None, None, None, False, True)))
    assert row.cells() == ("x", "1e-03", "0.5000", "0.4000", "—", "0.6000", "0.5000", "0.7000", "diverged", "", "")
    starred = CompareRow("x", 0.001, True, values=((0.5, 0.4, 0.3, True, False),), with_best=False)
    assert starred.cells() == ("x", "1e-03…", "0.5000", "0.3000★")


def test_a_cut_cell_ends_in_an_ellipsis_and_a_loss_scale_is_never_cut():
    """At 80 columns "xent×1e21" was cut to "xent×1e2": another number, with nothing to say so."""
    from tui_mtl.ui.rows import LOSS_WIDTH, loss_cell
    from tui_mtl.ui.widgets.head_table import fit

    assert loss_cell("sparse_categorical_crossentropy", 1e21) == "xe…×1e21"
    assert loss_cell("mse", 1e3) == "mse×1e3" and loss_cell("mse", 1.0) == "mse"
    assert all(len(loss_cell(name, scale)) <= LOSS_WIDTH
               for name in ("mse", "binary_crossentropy", "sparse_categorical_crossentropy")
               for scale in (None, 0.5, 20.0, 1e3, 1e21, 1e-30))
    assert fit("0.123456789", 7) == "0.1234…" and fit("0.12", 7) == "0.12   "
