"""check_pair: read both models' files, run every check and estimate memory, in about a second."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from gears import ResolvedConfig
from trainer.preflight import checks
from trainer.preflight.dataset_sample import SampleUnavailable, sample_dataset
from trainer.preflight.gpu import GpuInfo, detect_gpu
from trainer.preflight.locate import ModelNotFoundError, locate_model
from trainer.preflight.memory import MemoryEstimate, ModelShape, RunShape, estimate_memory
from trainer.preflight.model_files import ModelFacts, read_model
from trainer.preflight.report import Check, PreflightReport
from trainer.preflight.token_lengths import LengthStats, measure_lengths
from trainer.preflight.tokenizer_files import TOKENIZER_FILE

# AdamW state precision the estimate assumes; see memory.OPTIMIZER_STATES. The trainer loads the
# student in the run dtype and uses torch.optim.AdamW, whose moments take the parameter dtype.
OPTIMIZER_STATES = "param"
# Config keys that change the verdicts, echoed in the report.
REPORTED_KEYS = (
    "max_new_tokens",
    "max_length",
    "per_device_train_batch_size",
    "eval_batch_size",
    "lmbda",
    "beta",
    "seq_kd",
    "min_reward",
    "reward_samples",
    "reward_batch_size",
    "reward_max_new_tokens",
    "bf16",
    "processes",
    "trust_remote_code",
    "dataset_name",
)


def check_pair(student: str, teacher: str, config: ResolvedConfig, gpu: GpuInfo | None = None) -> PreflightReport:
    """Check a student/teacher pair for a GKD run from their files alone, without loading weights.

    `gpu` None detects the GPU (nvidia-smi, else /proc/driver/nvidia); with none found, the memory
    verdict is "unchecked" and the estimate is still reported.
    """
    models = {role: _read(reference, role) for role, reference in (("student", student), ("teacher", teacher))}
    student_facts, teacher_facts = models["student"], models["teacher"]

    report_checks: list[Check] = []
    for facts in (student_facts, teacher_facts):
        report_checks.append(checks.check_files(facts))
        report_checks.append(checks.check_weights(facts))
        report_checks.append(checks.check_remote_code(facts, config["trust_remote_code"]))
    report_checks.append(checks.check_special_tokens(student_facts))
    report_checks.append(checks.check_vocabulary(student_facts, teacher_facts))
    report_checks.append(checks.check_chat_template(student_facts, teacher_facts))
    report_checks.append(checks.check_sizes(student_facts, teacher_facts))

    lengths, skipped = _measure(student_facts, config)
    report_checks.append(checks.check_context(student_facts, teacher_facts, lengths, skipped, config))
    report_checks.append(checks.check_rollout_length(lengths, skipped, config))

    estimate, not_estimated = _estimate(student_facts, teacher_facts, lengths, config)
    if gpu is None:
        visible = config["cuda_visible_devices"] or None
        gpu = detect_gpu(visible)
    report_checks.append(checks.check_memory(estimate, not_estimated, gpu))

    return PreflightReport(
        models=models,
        checks=report_checks,
        memory=estimate,
        gpu=gpu,
        lengths=lengths,
        config={key: config[key] for key in REPORTED_KEYS} | {"gear": config.gear},
    )


def _read(reference: str, role: str) -> ModelFacts:
    try:
        location = locate_model(reference, role)
    except ModelNotFoundError as error:
        facts = ModelFacts(role=role, reference=reference)
        facts.file_errors.append(str(error))
        return facts
    return read_model(location, role)


def _measure(student: ModelFacts, config: Mapping[str, Any]) -> tuple[LengthStats | None, str]:
    """Return token-length statistics of a dataset sample, or None and the reason."""
    if student.path is None or not (Path(student.path) / TOKENIZER_FILE).is_file():
        return None, f"the student has no {TOKENIZER_FILE} to count tokens with"
    try:
        sample = sample_dataset(config)
    except SampleUnavailable as error:
        return None, str(error)
    tokenizer = student.tokenizer
    special = {"bos_token": tokenizer.bos_token, "eos_token": tokenizer.eos_token, "pad_token": tokenizer.pad_token}
    try:
        return measure_lengths(Path(student.path) / TOKENIZER_FILE, tokenizer.chat_template, special, sample), ""
    except Exception as error:  # tokenizers raises plain Exception for files it cannot parse
        return None, f"{Path(student.path) / TOKENIZER_FILE} could not be loaded by tokenizers ({error})"


def _estimate(
    student: ModelFacts, teacher: ModelFacts, lengths: LengthStats | None, config: Mapping[str, Any]
) -> tuple[MemoryEstimate | None, str]:
    dtype = "bfloat16" if config["bf16"] else "float32"
    shapes = []
    for facts in (student, teacher):
        missing = [name for name in ("param_count", "num_hidden_layers", "num_key_value_heads", "head_dim", "vocab_size")
                   if getattr(facts, name) is None]
        if missing:
            return None, f"{facts.role} {', '.join(missing)} unknown"
        shapes.append(
            ModelShape(
                params=facts.param_count,
                layers=facts.num_hidden_layers,
                kv_heads=facts.num_key_value_heads,
                head_dim=facts.head_dim,
                vocab_size=facts.vocab_size,
                hidden_size=facts.hidden_size or 0,
                intermediate_size=facts.intermediate_size or 0,
                dtype=dtype,
            )
        )
    # The collator keeps at most max_length tokens of a prompt; without a sample, assume prompts
    # fill that window.
    prompt_tokens = min(lengths.prompt_max, config["max_length"]) if lengths else config["max_length"]
    samples_rewards = config["min_reward"] > 0 and not str(config["dataset_name"]).endswith(".jsonl")
    run = RunShape(
        batch_size=config["per_device_train_batch_size"],
        prompt_tokens=prompt_tokens,
        max_new_tokens=config["max_new_tokens"],
        student_rollouts=config["lmbda"] > 0,
        teacher_rollouts=config["seq_kd"] and config["lmbda"] < 1,
        optimizer_states=OPTIMIZER_STATES,
        eval_batch_size=config["eval_batch_size"],
        reward_sequences=config["reward_batch_size"] * config["reward_samples"] if samples_rewards else 0,
        reward_max_new_tokens=config["reward_max_new_tokens"],
        processes=config["processes"],
        beta=config["beta"],
    )
    return estimate_memory(shapes[0], shapes[1], run), ""
