"""Immutable views of a run, built in a polling thread and handed to the UI thread to draw."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from console import formatting
from console.run_model import BaselineComparison, Charts, WallClock
from console.run_status import StatusLabel, describe_status
from console.store import RunWatch
from state.gate import GateResult
from state.record import RunRecord


@dataclass(frozen=True)
class RunRow:
    """One line of the runs table, already formatted."""

    run_id: str
    gear: str
    status: StatusLabel
    step: str
    loss: str
    eval_loss: str
    gate: str
    parent: str
    age: str
    alive: bool

    def cells(self) -> tuple[str, ...]:
        return (self.run_id, self.status.text, self.step, self.loss, self.eval_loss, self.gate, self.age, self.gear, self.parent)


@dataclass(frozen=True)
class RunView:
    """Everything the monitor draws for one poll of a run."""

    run_id: str
    record: RunRecord | None
    record_error: str | None
    status: StatusLabel
    alive: bool
    step: int | None
    total_steps: int | None
    charts: Charts
    grad_norm_bound: float | None
    wall_clock: WallClock
    baseline: BaselineComparison
    gate: GateResult | None
    warnings: tuple[str, ...]
    skipped_lines: int
    # Changes whenever anything drawn from this view would change.
    version: tuple = ()


def step_text(step: int | None, total: int | None) -> str:
    return f"{formatting.BLANK if step is None else step}/{total if total else '?'}"


def build_row(watch: RunWatch, now: datetime) -> RunRow:
    """Format the runs-table line of a polled run."""
    with watch.lock:
        record, model = watch.record, watch.model
        if record is None:
            label = StatusLabel("unreadable", watch.record_error or "run.toml cannot be read", "failed")
            return RunRow(watch.run_id, formatting.BLANK, label, "", "", "", "", "", "", False)
        alive = watch.alive()
        gate = watch.gate() if record.ended else None
        return RunRow(
            run_id=record.id,
            gear=record.gear + (" (demo)" if record.demo else ""),
            status=describe_status(record, model.first_nonfinite_step),
            step=step_text(model.last_step, record.total_steps),
            loss=formatting.number(model.last_loss),
            eval_loss=formatting.number(model.last_eval_loss),
            gate=gate.verdict if gate else formatting.BLANK,
            parent=record.parent or "",
            age=formatting.age(record.created_at, now),
            alive=alive,
        )


def build_view(watch: RunWatch, columns: int, with_gate: bool = True) -> RunView:
    """Build the monitor's view of a polled run; charts are folded into `columns` columns.

    Without `with_gate` the view carries only an already evaluated verdict (or None), so the
    first frame of a long run does not wait for the gate to re-read every train value.
    """
    with watch.lock:
        record, model = watch.record, watch.model
        total = record.total_steps if record else None
        bound = record.config.get("grad_norm_bound") if record else None
        alive = watch.alive()
        return RunView(
            run_id=watch.run_id,
            record=record,
            record_error=watch.record_error,
            status=describe_status(record, model.first_nonfinite_step),
            alive=alive,
            step=model.last_step,
            total_steps=total,
            charts=model.charts(columns),
            grad_norm_bound=float(bound) if isinstance(bound, (int, float)) else None,
            wall_clock=model.wall_clock(total),
            baseline=model.baseline_comparison(),
            gate=watch.gate() if with_gate else watch.cached_gate(),
            warnings=tuple(model.warnings),
            skipped_lines=watch.skipped_lines,
            version=(model.events_seen, watch.record_version, columns, alive),
        )
