"""The status label a run shows: the record's status, corrected by what the metrics stream already shows."""

from __future__ import annotations

from dataclasses import dataclass

from state.record import DIVERGED, FAILED, PENDING, RUNNING, RunRecord
from state.runs import LOST_MESSAGE

STARTING = "starting"
LOST_PREFIX = LOST_MESSAGE.split(":", 1)[0] + ":"


@dataclass(frozen=True)
class StatusLabel:
    """A short label (`text`), a longer line with the reason (`detail`) and a CSS class (`kind`)."""

    text: str
    detail: str
    kind: str


def describe_status(record: RunRecord | None, first_nonfinite_step: int | None = None) -> StatusLabel:
    """Describe a run's status; a non-finite train line means "diverged" even before the record is updated."""
    if record is None:
        return StatusLabel(STARTING, "starting: waiting for the trainer to write run.toml", PENDING)

    diverged_step = record.diverged_at_step if record.diverged_at_step is not None else first_nonfinite_step
    if record.status == DIVERGED or (record.status in (PENDING, RUNNING) and first_nonfinite_step is not None):
        text = f"diverged at step {diverged_step}" if diverged_step is not None else "diverged"
        detail = text if not record.message or record.status != DIVERGED else f"{text}: {record.message}"
        return StatusLabel(text, detail, DIVERGED)

    if record.status == FAILED and (record.message or "").startswith(LOST_PREFIX):
        return StatusLabel("failed (lost)", f"failed (lost): {record.message}", "lost")

    if record.status == PENDING and not record.message:
        # Loading models, reading data and building the demo pair all happen before `running`.
        return StatusLabel(PENDING, "pending: the trainer is preparing models and data (l shows its log)", PENDING)
    detail = f"{record.status}: {record.message}" if record.message else record.status
    return StatusLabel(record.status, detail, record.status)
