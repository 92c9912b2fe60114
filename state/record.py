"""The run record (`run.toml`): identity, status, process, versions and resolved config of a run."""

from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import tomli_w

from state import SCHEMA_VERSION
from state.atomic import atomic_write_text
from state.paths import RunPaths

PENDING = "pending"
RUNNING = "running"
FINISHED = "finished"
FAILED = "failed"
STOPPED = "stopped"
DIVERGED = "diverged"
STATUSES = (PENDING, RUNNING, FINISHED, FAILED, STOPPED, DIVERGED)
# Statuses after which the trainer process has exited.
ENDED_STATUSES = (FINISHED, FAILED, STOPPED, DIVERGED)


class RecordError(ValueError):
    """A run.toml that is missing or cannot be read."""


@dataclass
class RunRecord:
    """Contents of `run.toml`. Fields left as None are omitted from the file."""

    id: str
    gear: str
    status: str = PENDING
    schema_version: int = SCHEMA_VERSION
    parent: str | None = None
    demo: bool = False
    pid: int | None = None
    host: str | None = None
    created_at: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    started_at: datetime | None = None
    ended_at: datetime | None = None
    exit_code: int | None = None
    # Last error line of a failed run, or why it diverged, or how it was stopped.
    message: str | None = None
    diverged_at_step: int | None = None
    total_steps: int | None = None
    resumed: int = 0
    command: list[str] = field(default_factory=list)
    launch_command: list[str] = field(default_factory=list)
    cuda_visible_devices: str | None = None
    device: str | None = None
    dtype: str | None = None
    versions: dict[str, str] = field(default_factory=dict)
    sampling: dict[str, Any] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)
    wandb: dict[str, Any] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)

    @property
    def ended(self) -> bool:
        return self.status in ENDED_STATUSES

    def to_toml(self) -> str:
        table = {key: value for key, value in dataclasses.asdict(self).items() if value is not None}
        return tomli_w.dumps(table)

    @classmethod
    def from_table(cls, table: dict[str, Any]) -> "RunRecord":
        known = {f.name for f in dataclasses.fields(cls)}
        # Keys from a newer schema are ignored so an older console can still list the run.
        return cls(**{key: value for key, value in table.items() if key in known})


def write_record(paths: RunPaths, record: RunRecord) -> None:
    """Write `run.toml` atomically (temp file, fsync, rename)."""
    if record.status not in STATUSES:
        raise RecordError(f"invalid run status {record.status!r}: use one of {', '.join(STATUSES)}")
    atomic_write_text(paths.record, record.to_toml())


def read_record(paths: RunPaths) -> RunRecord:
    """Read `run.toml`; raise RecordError naming the file when it is missing or invalid."""
    try:
        table = tomllib.loads(paths.record.read_text(encoding="utf-8"))
    except FileNotFoundError as error:
        raise RecordError(f"run record not found: {paths.record}") from error
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise RecordError(f"invalid run record {paths.record}: {error}") from error
    try:
        return RunRecord.from_table(table)
    except TypeError as error:
        raise RecordError(f"invalid run record {paths.record}: {error}") from error


def update_record(paths: RunPaths, **changes: Any) -> RunRecord:
    """Read, change and atomically rewrite `run.toml`; return the new record."""
    record = read_record(paths)
    for key, value in changes.items():
        if not hasattr(record, key):
            raise RecordError(f"unknown run record field {key!r}")
        setattr(record, key, value)
    write_record(paths, record)
    return record


def utc_now() -> datetime:
    return datetime.now(timezone.utc).replace(microsecond=0)
