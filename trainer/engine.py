"""Run one gear of on-policy distillation end to end and keep its run directory up to date."""

from __future__ import annotations

import logging
import math
import os
import platform
import random
from dataclasses import dataclass
from typing import Any

from gears import ResolvedConfig
from state import metrics as kinds
from state.gate import evaluate_gate
from state.metrics import MetricsWriter, read_metrics
from state.paths import RunPaths, last_checkpoint
from state.process import current_host
from state.record import (
    DIVERGED,
    FAILED,
    FINISHED,
    PENDING,
    RUNNING,
    STOPPED,
    RunRecord,
    read_record,
    utc_now,
    write_record,
)
from state.summary import comparison, summarize, write_summary
from trainer.run_logging import setup_run_logging

logger = logging.getLogger(__name__)

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_DIVERGED = 3


@dataclass
class RunRequest:
    """A run for the engine to start or resume."""

    config: ResolvedConfig
    paths: RunPaths
    parent: str | None = None
    command: tuple[str, ...] = ()
    resume: bool = False


def is_main_process() -> bool:
    """Rank 0 (or a single process) owns the run record, the metrics stream and W&B."""
    return int(os.environ.get("RANK", "0")) == 0


def run(request: RunRequest) -> int:
    """Run the request and return the process exit code; the run record always gets an end status."""
    paths, config = request.paths, request.config
    from trainer import distributed

    main = is_main_process()
    record = _open_record(request) if main else None
    # Under `accelerate launch` the launching atlas-train process writes every rank's output to
    # trainer.log with a rank prefix, so the ranks themselves log to stderr only.
    setup_run_logging(paths.run_id, paths.log, to_file=main and not distributed.launched_by_atlas())

    from trainer.callbacks import StopSignal

    stop = StopSignal()
    stop.install()
    writer = None
    if main:
        offset = _last_time(paths) if request.resume else 0.0
        writer = MetricsWriter(paths.metrics, time_offset=offset)
        writer.write(kinds.STATUS, _last_step(paths), status=RUNNING, message="resumed" if request.resume else "started")
    logger.info("run %s: gear %s%s starting (pid %d)", paths.run_id, config.gear, " (demo)" if config.demo else "", os.getpid())

    session = _Session(request, record, writer, stop)
    try:
        status = session.execute()
    except BaseException as error:  # every failure must reach the run record before the process ends
        if isinstance(error, KeyboardInterrupt) or type(error).__name__ == "StopRequested":
            status, message = STOPPED, f"stopped by {stop.requested or 'interrupt'} before training"
        else:
            status, message = FAILED, f"{type(error).__name__}: {error}".splitlines()[0][:500]
            logger.exception("run %s failed", paths.run_id)
        session.message = message
    exit_code = {FINISHED: EXIT_OK, STOPPED: EXIT_OK, DIVERGED: EXIT_DIVERGED}.get(status, EXIT_FAILED)
    stop.defer()  # a late signal must not interrupt the writing of the final record
    session.close(status, exit_code)
    return exit_code


def _open_record(request: RunRequest) -> RunRecord:
    from trainer import distributed

    paths = request.paths
    paths.root.mkdir(parents=True, exist_ok=True)
    launched = distributed.launched_by_atlas()
    if launched:
        # The launcher wrote the record (and counted a resume); it owns the run's pid.
        record = read_record(paths)
    elif request.resume:
        record = read_record(paths)
        record.resumed += 1
        record.ended_at = None
        record.exit_code = None
        record.message = None
    else:
        record = RunRecord(
            id=paths.run_id,
            gear=request.config.gear,
            parent=request.parent,
            demo=request.config.demo,
            command=list(request.command),
            config=dict(request.config.values),
            cuda_visible_devices=os.environ.get("CUDA_VISIBLE_DEVICES"),
        )
    record.status = PENDING
    record.pid = int(os.environ[distributed.LAUNCHER_PID_ENV]) if launched else os.getpid()
    record.host = current_host()
    record.started_at = record.started_at if launched and record.started_at else utc_now()
    write_record(paths, record)
    return record


def _last_time(paths: RunPaths) -> float:
    times = [event.get("time", 0.0) for event in read_metrics(paths.metrics)]
    return max((t for t in times if isinstance(t, (int, float)) and math.isfinite(t)), default=0.0)


def _last_step(paths: RunPaths) -> int:
    return max((int(event.get("step", 0)) for event in read_metrics(paths.metrics)), default=0)


class _Session:
    """State of one trainer process: models, data, trainer and the files it writes."""

    def __init__(self, request: RunRequest, record: RunRecord | None, writer: MetricsWriter | None, stop):
        self.request = request
        self.config = request.config
        self.paths = request.paths
        self.record = record
        self.writer = writer
        self.stop = stop
        self.message: str | None = None
        self.diverged_at: int | None = None
        self.baseline: dict[str, Any] | None = None
        self.trainer = None

    # --- the run

    def execute(self) -> str:
        import torch
        import transformers
        import trl
        from transformers import set_seed

        from trainer import distributed, models
        from trainer.data import load_task

        config = self.config
        set_seed(config["seed"])
        placement = models.choose_placement(config)
        if distributed.world_size() > 1:
            from accelerate import PartialState

            # Join the process group now: reward scoring and the baseline are sharded before the
            # Trainer (which would otherwise start the group) exists.
            PartialState(cpu=placement.device == "cpu")
        self._update(
            device=placement.device,
            dtype=placement.dtype_name,
            versions={
                "python": platform.python_version(),
                "torch": torch.__version__,
                "transformers": transformers.__version__,
                "trl": trl.__version__,
                "atlas_console": _own_version(),
            },
        )
        student_ref, teacher_ref = models.resolve_model_paths(config)
        # Cheap checks first: a missing chat template or bad data fails before any weights load.
        tokenizer = models.load_tokenizer(student_ref, config["trust_remote_code"])
        task = load_task(config)
        logger.info(
            "data %s: %d train / %d eval rows, %d invalid rows skipped",
            task.source, len(task.train), len(task.eval), task.skipped_rows,
        )
        logger.info("loading student %s and teacher %s on %s (%s)", student_ref, teacher_ref, placement.device, placement.dtype_name)
        student = models.load_model(student_ref, placement, config["trust_remote_code"])
        teacher = models.load_model(teacher_ref, placement, config["trust_remote_code"])
        teacher.eval()
        models.match_teacher_vocab(teacher, student)
        eos_ids = models.eos_token_ids(tokenizer, student)

        kept = self._filter_by_reward(task, teacher, tokenizer, eos_ids, teacher_ref, models)
        eval_examples = _eval_sample(task.eval, config["eval_sample_size"], config["seed"])

        from trainer import telemetry

        wandb_info = telemetry.start_wandb(config.values, self.paths.run_id, self.paths.root, config.gear, self.request.resume) if is_main_process() else {}
        if wandb_info:
            self._update(wandb=wandb_info)
            logger.info("W&B %s (%s)", wandb_info["mode"], wandb_info["reason"])

        trainer, metrics_callback = self._build_trainer(student, teacher, tokenizer, kept, eval_examples, eos_ids, placement)
        sampling = trainer.sampling_settings()
        logger.info("on-policy sampling: %s", sampling)
        self._update(sampling=sampling, status=RUNNING)

        if self.request.resume:
            self.baseline = _first_of_kind(self.paths, kinds.BASELINE)
        if self.baseline is None:
            self._measure_baseline(trainer, metrics_callback, teacher, tokenizer, eval_examples, eos_ids)

        checkpoint = last_checkpoint(self.paths) if self.request.resume else None
        if self.request.resume and checkpoint is None:
            logger.warning("run %s has no checkpoint yet; training starts from step 0", self.paths.run_id)
        from trainer.gkd import NonFiniteRollout

        self.stop.defer()
        if not self.stop():
            logger.info("training starts%s", f" from {checkpoint.name}" if checkpoint else "")
            try:
                trainer.train(resume_from_checkpoint=str(checkpoint) if checkpoint else None)
            except NonFiniteRollout as error:
                step = int(trainer.state.global_step) + 1
                logger.error("step %d: the student's sampling distribution is not finite (%s)", step, error)
                if self.writer:
                    self.writer.write(kinds.TRAIN, step, loss=math.nan, grad_norm=math.nan, learning_rate=0.0)
                self.diverged_at = step
                self.message = f"diverged at step {step}: non-finite probabilities in on-policy sampling"
                return DIVERGED

        step = int(trainer.state.global_step)
        if metrics_callback.diverged_at_step is not None:
            self.diverged_at = metrics_callback.diverged_at_step
            self.message = f"diverged at step {self.diverged_at}: non-finite loss or grad_norm"
            return DIVERGED
        if self.stop():
            self.message = f"stopped by {self.stop.requested} at step {step}; checkpoint saved"
            return STOPPED
        self._final_evaluation(trainer, metrics_callback, step)
        return FINISHED

    def _filter_by_reward(self, task, teacher, tokenizer, eos_ids, teacher_ref, models):
        from trainer import rewards

        config = self.config
        cache_path = rewards.cache_file(models.model_identity(teacher_ref), task.fingerprint, config.values)
        pass_rate = rewards.make_teacher_pass_rate(teacher, tokenizer, eos_ids, config.values, should_stop=self.stop)
        result = rewards.filter_by_reward(task.train, config.values, teacher_pass_rate=pass_rate, cache_path=cache_path)
        data = {
            "source": task.source,
            "train_rows": len(task.train),
            "eval_rows": len(task.eval),
            "skipped_rows": task.skipped_rows,
            "kept": len(result.kept),
            "filtered": result.filtered,
            "min_reward": config["min_reward"],
            "reward_source": result.source,
            "reward_cache_hits": result.cache_hits,
        }
        if result.rewards:
            data["mean_reward"] = sum(result.rewards) / len(result.rewards)
        logger.info("min_reward %.2f kept %d of %d training prompts (%s)", config["min_reward"], len(result.kept), len(task.train), result.source)
        self._update(data=data)
        if self.writer:
            self.writer.write(kinds.DATA, 0, **data)
        return result.kept

    def _build_trainer(self, student, teacher, tokenizer, kept, eval_examples, eos_ids, placement):
        from datasets import Dataset
        from transformers.trainer_callback import PrinterCallback

        from trainer.callbacks import MetricsCallback, StopCallback
        from trainer.evaluation import evaluate
        from trainer.gkd import AtlasGKDTrainer, GKDConfig

        config = self.config
        wandb_active = (self.record.wandb.get("mode") if self.record else "disabled") in ("online", "offline")
        args = GKDConfig(
            output_dir=str(self.paths.checkpoints),
            run_name=self.paths.run_id,
            seed=config["seed"],
            max_steps=config["max_steps"],
            num_train_epochs=config["num_train_epochs"],
            per_device_train_batch_size=config["per_device_train_batch_size"],
            per_device_eval_batch_size=config["eval_batch_size"],
            gradient_accumulation_steps=config["gradient_accumulation_steps"],
            learning_rate=config["learning_rate"],
            lr_scheduler_type=config["lr_scheduler_type"],
            warmup_steps=config["warmup_steps"],
            max_grad_norm=config["max_grad_norm"],
            weight_decay=config["weight_decay"],
            lmbda=config["lmbda"],
            beta=config["beta"],
            temperature=config["temperature"],
            max_new_tokens=config["max_new_tokens"],
            seq_kd=config["seq_kd"],
            max_length=config["max_length"],
            bf16=placement.bf16,
            use_cpu=placement.device == "cpu",
            ddp_find_unused_parameters=False,
            # Rollouts generate token by token; recomputing activations would also turn off the
            # KV cache during generation (TRL sets use_cache=False under checkpointing).
            gradient_checkpointing=False,
            dataloader_pin_memory=False,
            logging_steps=config["logging_steps"],
            # The default filter replaces NaN/inf losses by the running mean and would hide divergence.
            logging_nan_inf_filter=False,
            save_strategy="steps",
            save_steps=config["save_steps"],
            save_total_limit=config["save_total_limit"],
            eval_strategy="steps" if config["eval_steps"] > 0 else "no",
            eval_steps=config["eval_steps"] if config["eval_steps"] > 0 else None,
            report_to=["wandb"] if wandb_active else [],
            disable_tqdm=True,
        )

        def evaluate_student() -> dict[str, Any]:
            model = self.trainer.accelerator.unwrap_model(self.trainer.model)
            result = evaluate(
                model,
                tokenizer,
                eval_examples,
                max_new_tokens=config["max_new_tokens"],
                batch_size=config["eval_batch_size"],
                eos_ids=eos_ids,
            )
            values = result.as_metrics()
            if self.baseline is None:
                values.update(success_delta=0.0, token_reduction=0.0)
            else:
                values.update(
                    comparison(result.accuracy, result.mean_tokens, self.baseline["accuracy"], self.baseline["mean_tokens"])
                )
            logger.info(
                "evaluation: accuracy %.3f, mean tokens %.1f, cap hits %.1f%%, success_delta %+.3f",
                values["accuracy"], values["mean_tokens"], 100 * values["cap_hit_rate"], values["success_delta"],
            )
            return values

        metrics_callback = MetricsCallback(
            self.writer,
            evaluate_student,
            config["stop_after_nonfinite"],
            on_total_steps=lambda total: self._update(total_steps=total),
        )
        self.trainer = AtlasGKDTrainer(
            model=student,
            teacher_model=teacher,
            args=args,
            train_dataset=_to_dataset(Dataset, kept),
            eval_dataset=_to_dataset(Dataset, eval_examples),
            processing_class=tokenizer,
            callbacks=[metrics_callback, StopCallback(self.stop)],
            eos_ids=eos_ids,
        )
        # The Trainer prints every log dict to stdout; MetricsCallback logs a readable subset instead.
        self.trainer.remove_callback(PrinterCallback)
        return self.trainer, metrics_callback

    def _measure_baseline(self, trainer, metrics_callback, teacher, tokenizer, eval_examples, eos_ids) -> None:
        from trainer import telemetry
        from trainer.evaluation import evaluate

        logger.info("baseline: evaluating the student on %d held-out prompts", len(eval_examples))
        metrics_callback.phase = kinds.BASELINE
        trainer.evaluate()
        self.baseline = metrics_callback.last_eval
        logger.info("baseline: evaluating the teacher")
        result = evaluate(
            teacher,
            tokenizer,
            eval_examples,
            max_new_tokens=self.config["max_new_tokens"],
            batch_size=self.config["eval_batch_size"],
            eos_ids=eos_ids,
            should_stop=self.stop,
        )
        if self.writer:
            self.writer.write(kinds.TEACHER, 0, **result.as_metrics())
        telemetry.log_metrics({f"teacher/{key}": value for key, value in result.as_metrics().items()}, 0)
        logger.info("teacher accuracy %.3f (the ceiling), student baseline %.3f", result.accuracy, self.baseline["accuracy"])
        metrics_callback.phase = kinds.EVAL

    def _final_evaluation(self, trainer, metrics_callback, step: int) -> None:
        if metrics_callback.last_eval_step == step and metrics_callback.last_eval is not None:
            if self.writer:
                self.writer.write(kinds.FINAL, step, **metrics_callback.last_eval)
            return
        metrics_callback.phase = kinds.FINAL
        trainer.evaluate()

    # --- records

    def _update(self, **changes: Any) -> None:
        if self.record is None:
            return
        for key, value in changes.items():
            setattr(self.record, key, value)
        from state.record import write_record

        write_record(self.paths, self.record)

    def close(self, status: str, exit_code: int) -> None:
        from trainer import telemetry

        telemetry.finish_wandb(0 if status in (FINISHED, STOPPED) else 1)
        if self.writer is not None:
            step = _last_step(self.paths)
            events = read_metrics(self.paths.metrics)
            summary = summarize(events)
            write_summary(self.paths, summary)
            self.writer.write(kinds.STATUS, step, status=status, message=self.message or status)
            self.writer.close()
            self._update(
                status=status,
                ended_at=utc_now(),
                exit_code=exit_code,
                message=self.message,
                diverged_at_step=self.diverged_at,
            )
            if self.record is not None and status == FINISHED:
                gate = evaluate_gate(self.record, events)
                logger.info("gate %s", gate.verdict)
                for criterion in gate.criteria:
                    logger.info("  %s", criterion.line())
        level = logging.INFO if status in (FINISHED, STOPPED) else logging.ERROR
        logger.log(level, "run %s ended: %s%s", self.paths.run_id, status, f" ({self.message})" if self.message else "")


def _to_dataset(dataset_class, examples):
    return dataset_class.from_list([{"messages": [dict(m) for m in example.messages]} for example in examples])


def _eval_sample(examples: list, size: int, seed: int) -> list:
    if len(examples) <= size:
        return list(examples)
    # A seeded sample, so every run of a gear (and its promoted run) scores the same prompts.
    indices = sorted(random.Random(seed).sample(range(len(examples)), size))
    return [examples[index] for index in indices]


def _first_of_kind(paths: RunPaths, kind: str) -> dict[str, Any] | None:
    for event in read_metrics(paths.metrics):
        if event.get("kind") == kind:
            return event
    return None


def _own_version() -> str:
    try:
        from importlib.metadata import version

        return version("atlas-console")
    except Exception:  # not installed as a distribution (running from a checkout)
        return "unknown"
