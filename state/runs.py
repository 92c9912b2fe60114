"""Listing the runs of a runs folder and correcting records whose trainer died unseen."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from state.paths import RunPaths
from state.process import current_host, pid_alive
from state.record import FAILED, PENDING, RUNNING, RecordError, RunRecord, read_record, update_record, utc_now

logger = logging.getLogger(__name__)

LOST_MESSAGE = "lost: the trainer process is gone but the run never recorded an end"


@dataclass
class RunEntry:
    """A run folder and its record; `error` is set when the record cannot be read."""

    paths: RunPaths
    record: RunRecord | None
    error: str | None = None


def list_runs(runs_dir: Path) -> list[RunEntry]:
    """Return every run folder under `runs_dir`, newest first."""
    runs_dir = Path(runs_dir)
    if not runs_dir.is_dir():
        return []
    entries = []
    for child in runs_dir.iterdir():
        if not child.is_dir() or child.name.startswith("."):
            continue
        paths = RunPaths(child)
        if not paths.record.exists():
            continue
        try:
            entries.append(RunEntry(paths, read_record(paths)))
        except RecordError as error:
            entries.append(RunEntry(paths, None, str(error)))
    entries.sort(key=lambda entry: (entry.record.created_at.timestamp() if entry.record else 0.0), reverse=True)
    return entries


def is_alive(record: RunRecord) -> bool:
    """Return True when the run's trainer process is alive (only checkable on its own host)."""
    if record.host and record.host != current_host():
        return record.status in (PENDING, RUNNING)
    return pid_alive(record.pid)


def mark_if_lost(paths: RunPaths, record: RunRecord) -> RunRecord:
    """Mark a `running`/`pending` run whose process is dead on this host as failed (lost)."""
    if record.status not in (RUNNING, PENDING) or record.pid is None or is_alive(record):
        return record
    if record.host and record.host != current_host():
        return record
    # The trainer may have recorded its end and exited between our read and the pid check.
    current = read_record(paths)
    if current.status not in (RUNNING, PENDING):
        return current
    logger.warning("run %s: pid %s is gone; marking the run failed (lost)", record.id, record.pid)
    return update_record(paths, status=FAILED, message=LOST_MESSAGE, ended_at=utc_now())
