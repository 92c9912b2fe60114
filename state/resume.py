"""Resume preconditions: the trainer has exited, the run has not finished, and no trained step would repeat."""

from __future__ import annotations

import shlex

from state.metrics import TRAIN, read_metrics
from state.paths import RunPaths, last_checkpoint
from state.process import current_host
from state.record import FINISHED, PENDING, RUNNING, RunRecord
from state.runs import is_alive


class ResumeError(ValueError):
    """A run that `--resume` must not continue; the message gives the reason and the next step."""


def check_resumable(paths: RunPaths, record: RunRecord) -> None:
    """Raise ResumeError when resuming `record` would run two trainers or rewrite finished steps."""
    if record.status in (PENDING, RUNNING) and is_alive(record):
        where = f"pid {record.pid}"
        if record.host and record.host != current_host():
            where += f" on {record.host}"
        raise ResumeError(
            f"run {record.id!r} is still running ({where}); stop it first (kill -TERM {record.pid}, "
            "or s in the console) and resume it once its status is 'stopped'"
        )
    if record.status == FINISHED:
        next_step = "start a new run"
        if record.gear == "diagnostic":
            demo = " --demo" if record.demo else ""
            next_step = f"promote it with `atlas-train --gear reliability{demo} --parent {record.id}` or start a new run"
        raise ResumeError(f"run {record.id!r} already finished, so there is nothing to resume; {next_step}")
    if last_checkpoint(paths) is not None:
        return
    train_steps = [event.get("step", 0) for event in read_metrics(paths.metrics) if event.get("kind") == TRAIN]
    trained = max(train_steps, default=0)
    if trained > 0:
        command = shlex.join(record.command) if record.command else "atlas-train"
        raise ResumeError(
            f"run {record.id!r} has no checkpoint although it trained to step {trained}, so a resume "
            f"would train steps 1 to {trained} again into the same metrics stream; start a new run "
            f"with the same settings instead (the run's command was: {command})"
        )
