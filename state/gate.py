"""The promotion gate: which criteria a run meets, each with its evidence.

`evaluate_gate` is a pure function of a run's record and metrics; the trainer, the console and
tests all call it, so a verdict is the same wherever it is shown.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Mapping

from state.metrics import read_metrics
from state.paths import RunPaths
from state.record import FINISHED, RunRecord, read_record
from state.summary import RunSummary, summarize

PASS_MARK = "✓"
FAIL_MARK = "✗"
# Gate keys of a resolved config (see gears/schema.py, section [gate]).
GATE_KEYS = ("require_finished", "require_loss_decrease", "eval_loss_tolerance", "grad_norm_bound", "min_success_delta")


@dataclass(frozen=True)
class Criterion:
    """One gate criterion's verdict and the numbers behind it."""

    name: str
    passed: bool
    evidence: str

    def line(self) -> str:
        return f"{PASS_MARK if self.passed else FAIL_MARK} {self.name}: {self.evidence}"


@dataclass(frozen=True)
class GateResult:
    criteria: tuple[Criterion, ...]

    @property
    def passed(self) -> bool:
        return all(criterion.passed for criterion in self.criteria)

    @property
    def failures(self) -> tuple[Criterion, ...]:
        return tuple(criterion for criterion in self.criteria if not criterion.passed)

    @property
    def verdict(self) -> str:
        return "pass" if self.passed else "fail"


def evaluate_gate(
    record: RunRecord, events: Iterable[dict[str, Any]], criteria: Mapping[str, Any] | None = None
) -> GateResult:
    """Evaluate the gate; `criteria` defaults to the gate keys of the run's own config."""
    settings = dict(criteria) if criteria is not None else {key: record.config.get(key) for key in GATE_KEYS}
    summary = summarize(events)
    results = [_finished(record, settings), _finite(summary)]
    if settings.get("require_loss_decrease", True):
        results.append(_loss_decrease(summary))
    results.append(_eval_loss(summary, settings.get("eval_loss_tolerance")))
    results.append(_grad_norm(summary, settings.get("grad_norm_bound")))
    results.append(_success_delta(summary, settings.get("min_success_delta")))
    return GateResult(tuple(results))


def evaluate_run_gate(paths: RunPaths, criteria: Mapping[str, Any] | None = None) -> GateResult:
    """Evaluate the gate of the run directory at `paths`."""
    return evaluate_gate(read_record(paths), read_metrics(paths.metrics), criteria)


def _finished(record: RunRecord, settings: Mapping[str, Any]) -> Criterion:
    required = settings.get("require_finished", True)
    passed = record.status == FINISHED or not required
    return Criterion("run finished", passed, f"status {record.status}")


def _finite(summary: RunSummary) -> Criterion:
    if summary.nonfinite_steps:
        return Criterion(
            "finite loss and grad_norm",
            False,
            f"{summary.nonfinite_steps} non-finite step(s), first at step {summary.first_nonfinite_step}",
        )
    return Criterion("finite loss and grad_norm", summary.steps > 0, f"{summary.steps} steps, all finite")


def _loss_decrease(summary: RunSummary) -> Criterion:
    first, last = summary.train_loss_first, summary.train_loss_last
    if first is None or last is None:
        return Criterion("train loss decreased", False, "no train loss logged")
    return Criterion("train loss decreased", last < first, f"train loss {first:.4g} → {last:.4g}")


def _eval_loss(summary: RunSummary, tolerance: float | None) -> Criterion:
    tolerance = 0.0 if tolerance is None else float(tolerance)
    first, last = summary.eval_loss_first, summary.eval_loss_last
    if first is None or last is None:
        return Criterion("eval loss not diverging", False, "no eval loss logged")
    passed = last <= first * (1.0 + tolerance)
    return Criterion("eval loss not diverging", passed, f"eval loss {first:.4g} → {last:.4g} (≤ +{tolerance:.0%})")


def _grad_norm(summary: RunSummary, bound: float | None) -> Criterion:
    if summary.grad_norm_max is None:
        return Criterion("grad_norm bounded", False, "no grad_norm logged")
    if bound is None:
        return Criterion("grad_norm bounded", True, f"max grad_norm {summary.grad_norm_max:.4g} (no bound set)")
    passed = summary.grad_norm_max < bound
    return Criterion("grad_norm bounded", passed, f"max grad_norm {summary.grad_norm_max:.4g} (< {bound:g})")


def _success_delta(summary: RunSummary, floor: float | None) -> Criterion:
    floor = 0.0 if floor is None else float(floor)
    if summary.success_delta is None:
        return Criterion("success delta", False, "no evaluation after the baseline yet")
    passed = summary.success_delta >= floor
    return Criterion(
        "success delta",
        passed,
        f"accuracy {summary.baseline_accuracy:.1%} → {summary.final_accuracy:.1%}, "
        f"delta {summary.success_delta * 100:+.1f} pts (≥ {floor * 100:+.1f})",
    )
