"""The diagnostics panel (`d`): why the curves move — per-head trunk gradient norms and shares of the
trunk update, pairwise cosines, the conflict share and the effective weights, latest values and history."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Static

from tui_mtl.ui.formatting import fmt_value
from tui_mtl.ui.colors import PALETTE
from tui_mtl.ui.widgets.loss_plot import LossPlot, SeriesStyle


def _color(i: int) -> str:
    r, g, b = PALETTE[i % len(PALETTE)]
    return f"rgb({r},{g},{b})"


def latest_from_history(history, heads: list[str]) -> tuple[dict | None, int | None]:
    """The newest diagnostics kept in a History (a resumed run, or reports from before the UI)."""
    steps, _values = history.diagnostic_points(f"grad_norm/{heads[0]}") if heads else ([], [])
    if not steps:
        return None, None

    def last(key: str):
        values = history.diagnostic_points(key)[1]
        return values[-1] if values else None

    pairs = [f"{a}~{b}" for i, a in enumerate(heads) for b in heads[i + 1:]]
    diag = {"grad_norm": {h: last(f"grad_norm/{h}") for h in heads},
            "update_share": {h: last(f"update_share/{h}") for h in heads},
            "cosine": {p: v for p in pairs if (v := last(f"cosine/{p}")) is not None}}
    share = last("conflict_share")
    if share is not None:
        diag["conflict_share"] = share
    return diag, int(round(steps[-1]))


def latest_table(heads: list[str], diagnostics: dict | None, effective: dict | None, step: int | None,
                 every: int | None):
    """The newest diagnostics as a small table (one row per head), cosines and conflict share below."""
    if not diagnostics and not effective:
        when = f"every {every} steps" if every else "off (training.diagnostics_every = 0)"
        return Text(f"no diagnostics yet — computed {when}", style="dim")
    diag = diagnostics or {}
    table = Table(box=None, show_header=False, padding=(0, 1), pad_edge=False)
    for header in ("head", "grad norm", "update share", "eff. weight"):
        table.add_column(header, justify="left" if header == "head" else "right")
    table.add_row(*(Text(h, style="bold") for h in ("head", "grad norm", "update share", "eff. weight")))
    for i, head in enumerate(heads):
        norm = diag.get("grad_norm", {}).get(head)
        share = diag.get("update_share", {}).get(head)
        weight = (effective or {}).get(head)
        share_text = "—" if share is None else f"{share:.0%}".replace("-0%", "0%")
        table.add_row(Text(head, style=f"bold {_color(i)}"), fmt_value(norm), share_text,
                      "—" if weight is None else f"{weight:.3g}")
    cos = diag.get("cosine", {})
    line = Text()
    if cos:
        line.append("cosine ", style="bold")
        for pair, value in cos.items():
            line.append(f"{pair} ")
            line.append(f"{value:+.2f}  ", style="red" if value < 0 else "green")
    if "conflict_share" in diag:
        line.append("conflicting pairs ", style="bold")
        line.append(f"{diag['conflict_share']:.0%}", style="red" if diag["conflict_share"] > 0 else "")
    if step is not None:
        line.append(f" · step {step:,}" + (f", every {every}" if every else ""), style="dim")
    from rich.console import Group

    return Group(table, line)


class DiagnosticsPanel(Vertical):
    DEFAULT_CSS = """
    DiagnosticsPanel { height: 1fr; display: none; }
    DiagnosticsPanel.-shown { display: block; }
    DiagnosticsPanel #diag-latest { height: auto; max-height: 8; padding: 0 1; }
    DiagnosticsPanel #diag-plots { height: 1fr; }
    """

    def __init__(self, heads: list[str], **kwargs) -> None:
        super().__init__(**kwargs)
        self.heads = list(heads)
        self.pairs = [f"{a}~{b}" for i, a in enumerate(self.heads) for b in self.heads[i + 1:]]

    def compose(self) -> ComposeResult:
        yield Static(id="diag-latest")
        with Horizontal(id="diag-plots"):
            yield LossPlot("trunk grad norm", id="diag-norm")
            yield LossPlot("cosine · conflict share", floor_zero=False, id="diag-cosine")
            yield LossPlot("effective weight", id="diag-weight")

    def log_plots(self) -> list[LossPlot]:
        """The plots a log scale helps (gradient norms ~1000x apart, weights); cosines can be negative."""
        return [self.query_one("#diag-norm", LossPlot), self.query_one("#diag-weight", LossPlot)]

    def show_latest(self, diagnostics: dict | None, effective: dict | None, step: int | None,
                    every: int | None) -> None:
        self._latest = latest_table(self.heads, diagnostics, effective, step, every)
        self.query_one("#diag-latest", Static).update(self._latest)

    @property
    def latest_text(self) -> str:
        """The latest-values table as plain text (for tests and logs)."""
        import io

        from rich.console import Console

        console = Console(file=io.StringIO(), width=120, color_system=None)
        console.print(getattr(self, "_latest", ""))
        return console.file.getvalue()

    def show_history(self, history, events: list) -> None:
        """Series from History.diagnostics (`diagnostic_points`)."""
        norm = {f"grad_norm/{h}": history.diagnostic_points(f"grad_norm/{h}") for h in self.heads}
        norm_styles = {f"grad_norm/{h}": SeriesStyle(h, PALETTE[i % len(PALETTE)]) for i, h in enumerate(self.heads)}
        self.query_one("#diag-norm", LossPlot).set_series(norm, events, norm_styles)
        cosine = {f"cosine/{p}": history.diagnostic_points(f"cosine/{p}") for p in self.pairs}
        cosine_styles = {f"cosine/{p}": SeriesStyle(p, PALETTE[(i + 3) % len(PALETTE)])
                         for i, p in enumerate(self.pairs)}
        cosine["conflict_share"] = history.diagnostic_points("conflict_share")
        cosine_styles["conflict_share"] = SeriesStyle("conflict", (235, 100, 100), "dots")
        self.query_one("#diag-cosine", LossPlot).set_series(cosine, events, cosine_styles)
        weight = {f"effective_weight/{h}": history.diagnostic_points(f"effective_weight/{h}") for h in self.heads}
        weight_styles = {f"effective_weight/{h}": SeriesStyle(h, PALETTE[i % len(PALETTE)])
                         for i, h in enumerate(self.heads)}
        self.query_one("#diag-weight", LossPlot).set_series(weight, events, weight_styles)
