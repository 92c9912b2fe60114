"""Run summary (`summary.toml`): the comparison cells of a run, computed from its metrics stream."""

from __future__ import annotations

import math
import tomllib
from dataclasses import asdict, dataclass
from typing import Any, Iterable

import tomli_w

from state.atomic import atomic_write_text
from state.metrics import BASELINE, EVAL, EVALUATION_KINDS, FINAL, TEACHER, TRAIN, is_finite_number, of_kind
from state.paths import RunPaths


def loss_window(count: int) -> int:
    """Train lines averaged for the "first" and "last" train loss: a tenth of the run, 1 to 10.

    Per-step on-policy loss is noisy (each step scores fresh samples), so a single first or last
    step would decide the comparison by chance.
    """
    return max(1, min(10, count // 10))


@dataclass
class RunSummary:
    """The numbers a two-gear comparison and the promotion gate read. None = not measured yet."""

    steps: int = 0
    train_loss_first: float | None = None
    train_loss_last: float | None = None
    eval_loss_first: float | None = None
    eval_loss_last: float | None = None
    grad_norm_max: float | None = None
    nonfinite_steps: int = 0
    first_nonfinite_step: int | None = None
    baseline_accuracy: float | None = None
    final_accuracy: float | None = None
    teacher_accuracy: float | None = None
    baseline_mean_tokens: float | None = None
    final_mean_tokens: float | None = None
    cap_hit_rate: float | None = None
    success_delta: float | None = None
    token_reduction: float | None = None
    wall_clock_hours: float | None = None

    def to_toml(self) -> str:
        return tomli_w.dumps({key: value for key, value in asdict(self).items() if value is not None})


def summarize(events: Iterable[dict[str, Any]]) -> RunSummary:
    """Compute a run's summary from its events; works on a running run too."""
    events = list(events)
    summary = RunSummary()
    train = of_kind(events, TRAIN)
    if train:
        summary.steps = max(int(event.get("step", 0)) for event in train)
        losses = [event.get("loss") for event in train if is_finite_number(event.get("loss"))]
        if losses:
            window = loss_window(len(losses))
            summary.train_loss_first = sum(losses[:window]) / window
            summary.train_loss_last = sum(losses[-window:]) / window
        norms = [event.get("grad_norm") for event in train if is_finite_number(event.get("grad_norm"))]
        summary.grad_norm_max = max(norms) if norms else None
        for event in train:
            if not (_finite_or_missing(event.get("loss")) and _finite_or_missing(event.get("grad_norm"))):
                summary.nonfinite_steps += 1
                if summary.first_nonfinite_step is None:
                    summary.first_nonfinite_step = int(event.get("step", 0))

    evaluations = of_kind(events, *EVALUATION_KINDS)
    eval_losses = [event["eval_loss"] for event in evaluations if is_finite_number(event.get("eval_loss"))]
    if eval_losses:
        summary.eval_loss_first, summary.eval_loss_last = eval_losses[0], eval_losses[-1]

    baseline = _last(of_kind(events, BASELINE))
    latest = _last(of_kind(events, FINAL)) or _last(of_kind(events, EVAL))
    teacher = _last(of_kind(events, TEACHER))
    if baseline:
        summary.baseline_accuracy = baseline.get("accuracy")
        summary.baseline_mean_tokens = baseline.get("mean_tokens")
    if teacher:
        summary.teacher_accuracy = teacher.get("accuracy")
    if latest:
        summary.final_accuracy = latest.get("accuracy")
        summary.final_mean_tokens = latest.get("mean_tokens")
        summary.cap_hit_rate = latest.get("cap_hit_rate")
        summary.success_delta = latest.get("success_delta")
        summary.token_reduction = latest.get("token_reduction")

    times = [event.get("time") for event in events if is_finite_number(event.get("time"))]
    if times:
        summary.wall_clock_hours = max(times) / 3600.0
    return summary


def comparison(accuracy: float, mean_tokens: float, baseline_accuracy: float, baseline_tokens: float) -> dict[str, float]:
    """Return success_delta (accuracy − baseline) and token_reduction (1 − tokens / baseline tokens)."""
    reduction = 1.0 - mean_tokens / baseline_tokens if baseline_tokens > 0 else 0.0
    return {"success_delta": accuracy - baseline_accuracy, "token_reduction": reduction}


def write_summary(paths: RunPaths, summary: RunSummary) -> None:
    atomic_write_text(paths.summary, summary.to_toml())


def read_summary(paths: RunPaths) -> RunSummary | None:
    """Read `summary.toml`, or None when the run has not written one yet."""
    try:
        table = tomllib.loads(paths.summary.read_text(encoding="utf-8"))
    except (FileNotFoundError, tomllib.TOMLDecodeError):
        return None
    known = RunSummary.__dataclass_fields__
    return RunSummary(**{key: value for key, value in table.items() if key in known})


def _finite_or_missing(value: Any) -> bool:
    return value is None or (isinstance(value, (int, float)) and math.isfinite(value))


def _last(events: list[dict[str, Any]]) -> dict[str, Any] | None:
    return events[-1] if events else None
