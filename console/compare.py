"""The two-gear comparison: a diagnostic run beside the reliability run promoted from it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from console.formatting import BLANK
from state.summary import RunSummary

HEADER = ("Metric", "Gear 1 (Diagnostic)", "Gear 2 (Reliability)")
METRICS = (
    "Train Loss (start → end)",
    "Eval Loss (start → end)",
    "Success Delta (vs. Baseline)",
    "Token Reduction (%)",
    "Wall-Clock (hrs)",
)


@dataclass(frozen=True)
class Comparison:
    diagnostic_id: str
    reliability_id: str | None
    rows: tuple[tuple[str, str, str], ...]


def summary_cells(summary: RunSummary | None) -> list[str]:
    """Return the five cells of one run, blank while it has no summary.toml."""
    if summary is None:
        return [""] * len(METRICS)
    return [
        _span(summary.train_loss_first, summary.train_loss_last),
        _span(summary.eval_loss_first, summary.eval_loss_last),
        BLANK if summary.success_delta is None else f"{summary.success_delta * 100:+.1f} pts",
        BLANK if summary.token_reduction is None else f"{summary.token_reduction * 100:.1f}%",
        BLANK if summary.wall_clock_hours is None else f"{summary.wall_clock_hours:.2f}",
    ]


def build_comparison(
    diagnostic_id: str,
    diagnostic: RunSummary | None,
    reliability_id: str | None,
    reliability: RunSummary | None,
) -> Comparison:
    rows = tuple(zip(METRICS, summary_cells(diagnostic), summary_cells(reliability)))
    return Comparison(diagnostic_id, reliability_id, rows)


def to_markdown(comparison: Comparison) -> str:
    lines = [
        f"# Two-gear comparison: {comparison.diagnostic_id} → {comparison.reliability_id or '(not promoted yet)'}",
        "",
        "| " + " | ".join(HEADER) + " |",
        "|---|---|---|",
    ]
    lines += ["| " + " | ".join(row) + " |" for row in comparison.rows]
    return "\n".join(lines) + "\n"


def export_path(runs_dir: Path, comparison: Comparison) -> Path:
    return Path(runs_dir) / f"compare-{comparison.diagnostic_id}.md"


def _span(first: float | None, last: float | None) -> str:
    if first is None or last is None:
        return BLANK
    return f"{first:.4f} → {last:.4f}"
