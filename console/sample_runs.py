"""Sample run folders for the console's tests, benchmark and screenshots.

run.toml and summary.toml are written with `state`'s writers and metrics.jsonl as raw JSON lines
with fixed `time` values. The numbers are made up, but the files follow docs/run-directory.md, so
the console reads them as it reads a trainer's output.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from gears import resolve
from state.paths import RunPaths
from state.record import FINISHED, RunRecord, write_record
from state.summary import summarize, write_summary

SAMPLE_TIME = datetime(2026, 1, 5, 12, 0, 0, tzinfo=timezone.utc)
SAMPLE_HOST = "sample-host"
SECONDS_PER_STEP = 0.5


@dataclass
class SampleRun:
    """Shape of a sample run; an `accuracy_change` below 0 makes its gate fail on success delta."""

    run_id: str
    gear: str = "diagnostic"
    status: str = FINISHED
    steps: int = 60
    total_steps: int | None = 60
    demo: bool = True
    parent: str | None = None
    pid: int | None = None
    host: str | None = SAMPLE_HOST
    age: timedelta = timedelta(hours=2)
    eval_steps: int = 20
    accuracy_change: float = 0.06
    nonfinite_at: int | None = None
    message: str | None = None
    write_summary: bool = True
    final: bool = True


def train_line(step: int, total: int) -> dict:
    """Return the values of a plausible train line: loss decays with a little deterministic noise."""
    progress = step / max(1, total)
    noise = 0.05 * math.sin(step * 1.7)
    return {
        "loss": round(2.0 * math.exp(-2.0 * progress) + 0.3 + noise, 5),
        "grad_norm": round(4.0 + 2.0 * math.cos(step * 0.9) + 3.0 * (1 - progress), 5),
        "learning_rate": 5e-4 * (1 - progress),
        "epoch": round(progress, 5),
        # Per logging interval, as the trainer logs them: tokens generated and seconds spent generating.
        "num_tokens": 4096,
        "generation_time": 0.3,
    }


def metrics_lines(sample: SampleRun) -> list[dict]:
    """Return the events of a sample run, in the order a trainer writes them."""
    total = sample.total_steps or sample.steps
    baseline_accuracy = 0.31
    events: list[dict] = [
        {"kind": "status", "step": 0, "time": 0.0, "status": "running", "message": "started"},
        {"kind": "data", "step": 0, "time": 0.2, "train_rows": 4000, "eval_rows": 400, "skipped_rows": 0,
         "kept": 3610, "filtered": 390, "min_reward": 0.8, "reward_source": "teacher pass rate"},
        {"kind": "teacher", "step": 0, "time": 1.0, "accuracy": 0.72, "mean_tokens": 61.0, "cap_hit_rate": 0.01, "samples": 200},
        {"kind": "baseline", "step": 0, "time": 2.0, "eval_loss": 1.9, "accuracy": baseline_accuracy,
         "mean_tokens": 88.0, "cap_hit_rate": 0.12, "success_delta": 0.0, "token_reduction": 0.0, "samples": 200},
    ]
    for step in range(1, sample.steps + 1):
        time = 2.0 + step * SECONDS_PER_STEP
        values = train_line(step, total)
        if sample.nonfinite_at is not None and step >= sample.nonfinite_at:
            values["loss"] = float("nan")
        events.append({"kind": "train", "step": step, "time": time, **values})
        if sample.eval_steps and step % sample.eval_steps == 0 and step < total:
            events.append(_evaluation("eval", step, time, step / total, sample.accuracy_change, baseline_accuracy))
    if sample.final and sample.status == FINISHED:
        time = 2.0 + sample.steps * SECONDS_PER_STEP + 1.0
        events.append(_evaluation("final", sample.steps, time, 1.0, sample.accuracy_change, baseline_accuracy))
    if sample.status not in ("running", "pending"):
        events.append({"kind": "status", "step": sample.steps, "time": events[-1]["time"], "status": sample.status,
                       "message": sample.message or sample.status})
    return events


def write_sample_run(runs_dir: Path, sample: SampleRun, now: datetime = SAMPLE_TIME) -> RunPaths:
    """Write run.toml, metrics.jsonl, trainer.log and (for an ended run) summary.toml."""
    paths = RunPaths.of(runs_dir, sample.run_id)
    paths.root.mkdir(parents=True, exist_ok=True)

    created = now - sample.age
    config = resolve(sample.gear, demo=sample.demo).values
    events = metrics_lines(sample)
    record = RunRecord(
        id=sample.run_id,
        gear=sample.gear,
        status=sample.status,
        parent=sample.parent,
        demo=sample.demo,
        pid=sample.pid,
        host=sample.host,
        created_at=created,
        started_at=created + timedelta(seconds=5),
        ended_at=None if sample.status in ("running", "pending") else created + timedelta(minutes=30),
        message=sample.message,
        diverged_at_step=sample.nonfinite_at if sample.status == "diverged" else None,
        total_steps=sample.total_steps,
        command=["atlas-train", "--gear", sample.gear, "--run-id", sample.run_id],
        device="cpu",
        dtype="float32",
        config=config,
    )
    write_record(paths, record)

    write_events(paths.metrics, events)
    paths.log.write_text(
        "".join(f"step {event['step']}: loss {event['loss']}\n" for event in events if event["kind"] == "train")
        + f"run {sample.run_id} {sample.status}\n",
        encoding="utf-8",
    )

    if sample.write_summary and sample.status not in ("running", "pending"):
        write_summary(paths, summarize(events))
    return paths


def write_events(path: Path, events: list[dict], mode: str = "w") -> None:
    """Write events as JSON lines with their own `time` values, so the file is reproducible."""
    with open(path, mode, encoding="utf-8") as stream:
        stream.writelines(json.dumps(event, allow_nan=True) + "\n" for event in events)


def _evaluation(kind: str, step: int, time: float, progress: float, change: float, baseline: float) -> dict:
    accuracy = round(baseline + change * progress, 4)
    mean_tokens = round(88.0 - 10.0 * progress, 2)
    return {
        "kind": kind, "step": step, "time": time,
        "eval_loss": round(1.9 - 0.4 * progress, 4),
        "accuracy": accuracy,
        "mean_tokens": mean_tokens,
        "cap_hit_rate": round(0.12 - 0.05 * progress, 4),
        "success_delta": round(accuracy - baseline, 4),
        "token_reduction": round(1 - mean_tokens / 88.0, 4),
        "samples": 200,
    }
