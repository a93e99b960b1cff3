"""The result tables headless commands print at the end: one for a session, one for a comparison."""

from __future__ import annotations

import math

from tui_mtl.cli.output import fmt


def _layout(rows: list[tuple[str, ...]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def summary_table(session, validation: tuple[dict, dict]) -> str:
    report = session.last_report
    val_loss, val_metric = validation
    rows: list[tuple[str, ...]] = [("head", "loss", "weight", "lr", "train loss", "best train", "val loss",
                                    "val metric")]
    for head in session.preset.model.heads:
        name = head.name
        rows.append((name, head.loss, fmt(session.weights[name]), fmt(session.learning_rates[name]),
                     fmt(report.train_loss.get(name) if report else None),
                     fmt(session.history.best_train.get(name)), fmt(val_loss[name]),
                     f"{head.metric} {val_metric[name]:.4g}"))
    return _layout(rows)


def best_branch(results: dict, head: str, diverged: set) -> str | None:
    """The branch with the lowest finite validation loss on `head`; a diverged branch never wins."""
    finite = {name: loss[head] for name, (loss, _metric) in results.items()
              if name not in diverged and math.isfinite(loss[head])}
    return min(finite, key=finite.__getitem__) if len(finite) > 1 else None


def comparison_table(comparison, results: dict) -> str:
    """Per head and branch: train loss (last report), best train loss, validation loss and metric;
    `results` holds each branch's (val_loss, val_metric)."""
    branches = comparison.branches
    diverged = set(comparison.diverged)
    first = next(iter(branches.values()))
    rows: list[tuple[str, ...]] = [("head", "branch", "train loss", "best train", "val loss", "val metric", "best val")]
    for head in first.preset.model.heads:
        best = best_branch(results, head.name, diverged)
        for name, branch in branches.items():
            val_loss, val_metric = results[name]
            report = branch.last_report
            if name in diverged:
                fault = comparison.diverged[name]
                rows.append((head.name, name, f"diverged at step {fault.step}", "", "", "", ""))
                continue
            rows.append((head.name, name, fmt(report.train_loss.get(head.name) if report else None),
                         fmt(branch.history.best_train.get(head.name)), fmt(val_loss[head.name]),
                         f"{head.metric} {val_metric[head.name]:.4g}", "*" if name == best else ""))
    lines = [_layout(rows)]
    for name, branch in branches.items():
        steps = branch.step_count - comparison.fork_step
        rate = steps / branch.train_seconds if branch.train_seconds else 0.0
        lines.append(f"{name}: {steps} steps at {rate:.0f} steps/s")
    return "\n".join(lines)


def seeds_table(results: dict, heads: list[str]) -> str:
    """Per head and strategy: the mean final validation loss over seeds and its 95% interval."""
    from tui_mtl.stats import mean_interval

    rows: list[tuple[str, ...]] = [("head", "strategy", "val loss mean", "95% CI", "seeds", "diverged")]
    for head in heads:
        for name, per_head in results.items():
            interval = mean_interval(per_head[head])
            ci = f"{fmt(interval.low)} .. {fmt(interval.high)}" if math.isfinite(interval.low) else "-"
            rows.append((head, name, fmt(interval.mean) if interval.n else "-", ci, str(interval.n),
                         str(interval.diverged) if interval.diverged else ""))
    return _layout(rows)
