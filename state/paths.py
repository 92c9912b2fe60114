"""Where runs live and how run directories and their files are named."""

from __future__ import annotations

import os
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

RUNS_DIR_ENV = "ATLAS_RUNS_DIR"
_RUN_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


class RunIdError(ValueError):
    """A run id that is not a safe directory name."""


def resolve_runs_dir(explicit: str | os.PathLike | None = None) -> Path:
    """Return the runs folder: `explicit`, else $ATLAS_RUNS_DIR, else ./runs."""
    if explicit:
        return Path(explicit).expanduser()
    from_env = os.environ.get(RUNS_DIR_ENV)
    if from_env:
        return Path(from_env).expanduser()
    return Path("runs")


def new_run_id(gear: str, now: datetime | None = None) -> str:
    """Generate a sortable, unique run id such as `diagnostic-20261204-193012-a1b2`."""
    now = now or datetime.now(timezone.utc)
    return f"{gear}-{now:%Y%m%d-%H%M%S}-{secrets.token_hex(2)}"


def validate_run_id(run_id: str) -> str:
    """Return `run_id` if it is a safe folder name; raise RunIdError naming it otherwise."""
    if not _RUN_ID_PATTERN.match(run_id) or ".." in run_id:
        raise RunIdError(
            f"invalid run id {run_id!r}: use letters, digits, '.', '_' and '-' only "
            "(no '/', no '..', at most 128 characters, starting with a letter or digit)"
        )
    return run_id


@dataclass(frozen=True)
class RunPaths:
    """The files of one run directory."""

    root: Path

    @property
    def run_id(self) -> str:
        return self.root.name

    @property
    def record(self) -> Path:
        return self.root / "run.toml"

    @property
    def metrics(self) -> Path:
        return self.root / "metrics.jsonl"

    @property
    def summary(self) -> Path:
        return self.root / "summary.toml"

    @property
    def log(self) -> Path:
        return self.root / "trainer.log"

    @property
    def checkpoints(self) -> Path:
        return self.root / "checkpoints"

    @property
    def wandb(self) -> Path:
        return self.root / "wandb"

    @classmethod
    def of(cls, runs_dir: Path, run_id: str) -> "RunPaths":
        return cls(Path(runs_dir) / validate_run_id(run_id))


def last_checkpoint(paths: RunPaths) -> Path | None:
    """Return the checkpoint folder with the highest step, or None when there is none."""
    if not paths.checkpoints.is_dir():
        return None
    candidates = []
    for child in paths.checkpoints.iterdir():
        match = re.fullmatch(r"checkpoint-(\d+)", child.name)
        if match and child.is_dir():
            candidates.append((int(match.group(1)), child))
    return max(candidates)[1] if candidates else None
