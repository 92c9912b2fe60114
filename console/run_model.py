"""The console's model of one run's metrics stream, built up event by event.

A `RunModel` ingests the events a `MetricsTail` returns and keeps only what the panels need. That
is min/max chart buckets, a short window for rates and the latest evaluations. For the gate it
keeps three numbers per train line rather than the parsed dicts.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Iterable

from console.downsample import ChartSeries, MinMaxSeries
from state.metrics import BASELINE, EVAL, EVALUATION_KINDS, FINAL, STATUS, TEACHER, TRAIN, WARNING, is_finite_number

# Train lines over which steps/s and tokens/s are measured: recent enough to follow a change of
# pace (evaluation pauses, a slower phase), long enough to smooth per-step jitter.
RATE_WINDOW = 50
WARNINGS_KEPT = 20


@dataclass(frozen=True)
class WallClock:
    """Timing of a run, from the `time` of its events (run time, so pauses between resumes are excluded)."""

    elapsed: float | None = None
    steps_per_second: float | None = None
    tokens_per_second: float | None = None
    eta: float | None = None
    step_time: float | None = None
    generation_share: float | None = None


@dataclass(frozen=True)
class BaselineComparison:
    """The student before training against its latest evaluation, and the teacher."""

    baseline_accuracy: float | None = None
    latest_accuracy: float | None = None
    success_delta: float | None = None
    token_reduction: float | None = None
    cap_hit_rate: float | None = None
    teacher_accuracy: float | None = None
    evaluated_step: int | None = None


@dataclass(frozen=True)
class Charts:
    loss: ChartSeries
    eval_loss: ChartSeries
    grad_norm: ChartSeries


@dataclass
class RunModel:
    """Accumulated state of one metrics stream; feed it with `ingest`."""

    events_seen: int = 0
    last_step: int | None = None
    last_loss: float | None = None
    last_eval_loss: float | None = None
    first_nonfinite_step: int | None = None
    stream_status: str | None = None
    stream_message: str | None = None
    warnings: deque = field(default_factory=lambda: deque(maxlen=WARNINGS_KEPT))
    loss_series: MinMaxSeries = field(default_factory=MinMaxSeries)
    eval_loss_series: MinMaxSeries = field(default_factory=MinMaxSeries)
    grad_norm_series: MinMaxSeries = field(default_factory=MinMaxSeries)
    _train_steps: list[int] = field(default_factory=list)
    _train_losses: list[Any] = field(default_factory=list)
    _train_grad_norms: list[Any] = field(default_factory=list)
    _other_events: list[dict[str, Any]] = field(default_factory=list)
    _rate_window: deque = field(default_factory=lambda: deque(maxlen=RATE_WINDOW))
    _max_time: float | None = None
    _baseline: dict[str, Any] | None = None
    _latest: dict[str, Any] | None = None
    _final_seen: bool = False
    _teacher: dict[str, Any] | None = None

    def ingest(self, events: Iterable[dict[str, Any]]) -> None:
        # Opening a long run ingests every line once, so the train path avoids helper calls.
        max_time = self._max_time
        for event in events:
            self.events_seen += 1
            time = event.get("time")
            if type(time) in (int, float) and (max_time is None or time > max_time) and math.isfinite(time):
                max_time = float(time)
            kind = event.get("kind")
            if kind == TRAIN:
                self._ingest_train(event)
                continue
            self._other_events.append(event)
            if kind in EVALUATION_KINDS:
                self._ingest_evaluation(event)
            elif kind == TEACHER:
                self._teacher = event
            elif kind == STATUS:
                self.stream_status = event.get("status")
                self.stream_message = event.get("message")
            elif kind == WARNING and event.get("message"):
                self.warnings.append(f"step {event.get('step', 0)}: {event['message']}")
        self._max_time = max_time

    def _ingest_train(self, event: dict[str, Any]) -> None:
        step = int(event.get("step", 0))
        loss = event.get("loss")
        grad_norm = event.get("grad_norm")
        self.last_step = step
        self._train_steps.append(step)
        self._train_losses.append(loss)
        self._train_grad_norms.append(grad_norm)
        loss_is_number = type(loss) in (int, float)
        grad_is_number = type(grad_norm) in (int, float)
        if loss_is_number:
            self.last_loss = float(loss)
            self.loss_series.append(step, float(loss))
        if grad_is_number:
            self.grad_norm_series.append(step, float(grad_norm))
        if self.first_nonfinite_step is None:
            # A missing value is not a divergence; a present one must be a finite number.
            loss_bad = loss is not None and not (loss_is_number and math.isfinite(loss))
            grad_bad = grad_norm is not None and not (grad_is_number and math.isfinite(grad_norm))
            if loss_bad or grad_bad:
                self.first_nonfinite_step = step
        time = event.get("time")
        if type(time) in (int, float) and math.isfinite(time):
            self._rate_window.append(event)

    def _ingest_evaluation(self, event: dict[str, Any]) -> None:
        kind = event.get("kind")
        eval_loss = event.get("eval_loss")
        if isinstance(eval_loss, (int, float)):
            self.last_eval_loss = float(eval_loss)
            self.eval_loss_series.append(int(event.get("step", 0)), float(eval_loss))
        if kind == BASELINE:
            self._baseline = event
        elif kind == FINAL or (kind == EVAL and not self._final_seen):
            self._latest = event
            self._final_seen = self._final_seen or kind == FINAL

    def charts(self, columns: int) -> Charts:
        return Charts(
            loss=self.loss_series.columns(columns),
            eval_loss=self.eval_loss_series.columns(columns),
            grad_norm=self.grad_norm_series.columns(columns),
        )

    def wall_clock(self, total_steps: int | None) -> WallClock:
        window = list(self._rate_window)
        if not window:
            return WallClock(elapsed=self._max_time)
        first, last = window[0], window[-1]
        duration = last["time"] - first["time"]
        steps_per_second = tokens_per_second = share = None
        if len(window) > 1 and duration > 0:
            steps_per_second = (last.get("step", 0) - first.get("step", 0)) / duration
            # num_tokens and generation_time count what happened since the previous train line
            # (trainer/gkd.py), so the lines after the window's first one cover its duration.
            later = window[1:]
            tokens = [event["num_tokens"] for event in later if is_finite_number(event.get("num_tokens"))]
            if len(tokens) == len(later):
                tokens_per_second = sum(tokens) / duration
            generation = [event["generation_time"] for event in later if is_finite_number(event.get("generation_time"))]
            if len(generation) == len(later):
                share = min(1.0, sum(generation) / duration)
        elif last["time"] > 0:
            steps_per_second = last.get("step", 0) / last["time"]
        eta = None
        if total_steps and steps_per_second and self.last_step is not None:
            eta = max(0, total_steps - self.last_step) / steps_per_second
        step_times = [event["step_time"] for event in window if is_finite_number(event.get("step_time"))]
        return WallClock(
            elapsed=self._max_time,
            steps_per_second=steps_per_second,
            tokens_per_second=tokens_per_second,
            eta=eta,
            step_time=sum(step_times) / len(step_times) if step_times else None,
            generation_share=share,
        )

    def baseline_comparison(self) -> BaselineComparison:
        baseline, latest, teacher = self._baseline or {}, self._latest or {}, self._teacher or {}
        return BaselineComparison(
            baseline_accuracy=baseline.get("accuracy"),
            latest_accuracy=latest.get("accuracy"),
            success_delta=latest.get("success_delta"),
            token_reduction=latest.get("token_reduction"),
            cap_hit_rate=latest.get("cap_hit_rate", baseline.get("cap_hit_rate")),
            teacher_accuracy=teacher.get("accuracy"),
            evaluated_step=latest.get("step") if latest else None,
        )

    def gate_events(self) -> list[dict[str, Any]]:
        """Rebuild the events `state.gate.evaluate_gate` reads: train lines first, then the rest.

        The gate and the summary read train lines only in their own order, and the other kinds
        only in theirs, so the interleaving of the two does not change a verdict.
        """
        events: list[dict[str, Any]] = []
        for step, loss, grad_norm in zip(self._train_steps, self._train_losses, self._train_grad_norms):
            event: dict[str, Any] = {"kind": TRAIN, "step": step}
            if loss is not None:
                event["loss"] = loss
            if grad_norm is not None:
                event["grad_norm"] = grad_norm
            events.append(event)
        events.extend(self._other_events)
        return events
