"""Trainer callbacks that write the metrics stream, evaluate, stop on request and detect divergence."""

from __future__ import annotations

import logging
import math
import signal
from typing import Any, Callable

from transformers import TrainerCallback

from state.metrics import MetricsWriter
from trainer import distributed, telemetry

logger = logging.getLogger(__name__)


class StopRequested(Exception):
    """A stop signal arrived before training began; the run ends as stopped at once."""


class StopSignal:
    """Turns SIGTERM and SIGINT into a stop request.

    Before training (model builds, data loading, reward scoring, the baseline) the signal raises
    StopRequested at once, since there is no step to finish and nothing to checkpoint. Once
    `defer()` is called, training honours the request at the next step end.
    """

    def __init__(self) -> None:
        self.requested: str | None = None
        self.immediate = True

    def defer(self) -> None:
        """From now on, only record the request; the training loop acts on it."""
        self.immediate = False

    def install(self) -> None:
        signal.signal(signal.SIGTERM, self._handle)
        signal.signal(signal.SIGINT, self._handle)

    def _handle(self, signum: int, frame: Any) -> None:
        name = signal.Signals(signum).name
        first = self.requested is None
        self.requested = name
        if self.immediate:
            logger.info("received %s before training began: stopping now", name)
            raise StopRequested(name)
        if first:
            logger.info("received %s: stopping after the current step and saving a checkpoint", name)

    def __call__(self) -> bool:
        return self.requested is not None


class StopCallback(TrainerCallback):
    """Saves a checkpoint and ends training at the first step end after a stop request."""

    def __init__(self, stop: StopSignal):
        self.stop = stop

    def on_step_end(self, args, state, control, **kwargs):
        # Every rank must stop at the same step, or the next collective call would hang.
        if distributed.any_rank(self.stop()):
            if self.stop.requested is None:
                self.stop.requested = "a stop on another rank"
            control.should_save = True
            control.should_training_stop = True
        return control


# Train progress lines a run writes to its log (one per step when it has fewer steps).
PROGRESS_LINES = 20


class MetricsCallback(TrainerCallback):
    """Writes train lines, detects non-finite steps and turns evaluations into eval lines.

    `evaluate_student` runs the greedy evaluation; it returns the metrics of an eval line
    (accuracy, mean_tokens, ... and the baseline comparison) for the model being trained.
    """

    def __init__(
        self,
        writer: MetricsWriter | None,
        evaluate_student: Callable[[], dict[str, Any]],
        stop_after_nonfinite: int,
        on_total_steps: Callable[[int], None],
    ):
        self.writer = writer
        self.evaluate_student = evaluate_student
        self.stop_after_nonfinite = stop_after_nonfinite
        self.on_total_steps = on_total_steps
        # "baseline" before training, "eval" during it, "final" after it.
        self.phase = "baseline"
        self.consecutive_nonfinite = 0
        self.diverged_at_step: int | None = None
        self.last_eval: dict[str, Any] | None = None
        self.last_eval_step: int | None = None
        # Steps between progress lines in the log; the metrics stream gets every step.
        self.progress_every = 1

    def on_train_begin(self, args, state, control, **kwargs):
        self.phase = "eval"
        self.on_total_steps(int(state.max_steps))
        self.progress_every = max(1, int(state.max_steps) // PROGRESS_LINES)
        return control

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not logs or "loss" not in logs:
            return control
        step = int(state.global_step)
        loss = float(logs["loss"])
        grad_norm = float(logs["grad_norm"]) if logs.get("grad_norm") is not None else math.nan
        line = {
            "loss": loss,
            "grad_norm": grad_norm,
            "learning_rate": float(logs.get("learning_rate", 0.0)),
            "epoch": float(logs.get("epoch", 0.0)),
        }
        for optional in ("num_tokens", "generation_time"):
            if optional in logs:
                line[optional] = logs[optional]
        if self.writer is not None:
            self.writer.write("train", step, **line)
            if step == 1 or step % self.progress_every == 0 or step == state.max_steps:
                logger.info(
                    "step %d/%d: loss %.4g, grad_norm %.4g, learning_rate %.3g",
                    step, state.max_steps, loss, grad_norm, line["learning_rate"],
                )
        # A loss of 0.0 next to a NaN grad_norm is a broken step, not convergence.
        if math.isfinite(loss) and math.isfinite(grad_norm):
            self.consecutive_nonfinite = 0
            return control
        self.consecutive_nonfinite += 1
        if self.diverged_at_step is None:
            self.diverged_at_step = step
        logger.error("non-finite step %d: loss %s, grad_norm %s", step, loss, grad_norm)
        if self.consecutive_nonfinite >= self.stop_after_nonfinite:
            control.should_training_stop = True
        return control

    def on_evaluate(self, args, state, control, metrics=None, **kwargs):
        step = int(state.global_step)
        values = {"eval_loss": float(metrics.get("eval_loss", math.nan)) if metrics else math.nan}
        values.update(self.evaluate_student())
        self.last_eval, self.last_eval_step = values, step
        if self.writer is not None:
            self.writer.write(self.phase, step, **values)
        telemetry.log_metrics({f"{self.phase}/{key}": value for key, value in values.items()}, step)
        cap_hit_rate = values.get("cap_hit_rate", 0.0)
        if cap_hit_rate >= 0.2:
            message = (
                f"{cap_hit_rate:.0%} of evaluation answers hit max_new_tokens at step {step}; "
                "their answers are cut off, so raise max_new_tokens or expect lower accuracy"
            )
            logger.warning(message)
            if self.writer is not None:
                self.writer.write("warning", step, message=message)
        return control
