"""Every config key a gear may set: its section, type, allowed range and meaning.

The values live in the gear TOML files; this table is the single place that says what each key
means, so `atlas-train --print-config` and the console can explain a resolved config.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Field:
    """One config key."""

    name: str
    section: str
    type: type
    doc: str
    minimum: float | None = None
    maximum: float | None = None
    exclusive_minimum: bool = False
    choices: tuple[str, ...] | None = None
    # A string value must match `pattern` in full; `pattern_doc` gives the form in words.
    pattern: str | None = None
    pattern_doc: str | None = None

    def describe_range(self) -> str:
        """Return the allowed values in words, e.g. "a float in [0, 1]"."""
        kind = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}[self.type]
        if self.choices:
            return "one of " + ", ".join(repr(choice) for choice in self.choices)
        if self.pattern_doc:
            return self.pattern_doc
        if self.minimum is not None and self.maximum is not None:
            return f"{kind} in [{_fmt(self.minimum)}, {_fmt(self.maximum)}]"
        if self.minimum is not None:
            relation = ">" if self.exclusive_minimum else ">="
            return f"{kind} {relation} {_fmt(self.minimum)}"
        return kind

    def check(self, value: Any) -> str | None:
        """Return why `value` is invalid for this key, or None when it is valid."""
        if self.type is bool:
            valid_type = isinstance(value, bool)
        elif self.type is int:
            valid_type = isinstance(value, int) and not isinstance(value, bool)
        elif self.type is float:
            valid_type = isinstance(value, (int, float)) and not isinstance(value, bool)
        else:
            valid_type = isinstance(value, str)
        if not valid_type:
            return f"expected {self.describe_range()}, got {value!r} ({type(value).__name__})"
        if self.choices and value not in self.choices:
            return f"expected {self.describe_range()}, got {value!r}"
        if self.pattern and not re.fullmatch(self.pattern, value):
            return f"expected {self.describe_range()}, got {value!r}"
        if self.minimum is not None:
            too_low = value <= self.minimum if self.exclusive_minimum else value < self.minimum
            if too_low:
                return f"expected {self.describe_range()}, got {value!r}"
        if self.maximum is not None and value > self.maximum:
            return f"expected {self.describe_range()}, got {value!r}"
        return None


def _fmt(number: float) -> str:
    return str(int(number)) if float(number).is_integer() else str(number)


SECTIONS = ("model", "data", "distill", "train", "eval", "logging", "launch", "gate")

FIELDS: tuple[Field, ...] = (
    # --- model
    Field("student", "model", str, "Student model: local directory, Hugging Face model id, or 'demo'."),
    Field("teacher", "model", str, "Teacher model: local directory, Hugging Face model id, or 'demo'."),
    Field("trust_remote_code", "model", bool, "Allow model code shipped with a checkpoint to run."),
    # --- data
    Field(
        "dataset_name",
        "data",
        str,
        "'gsm8k' (Hugging Face openai/gsm8k), a directory with train.jsonl/test.jsonl in GSM8K format, "
        "a runtime-trace .jsonl file, or 'synthetic' (generated offline from `seed`).",
    ),
    Field("dataset_config", "data", str, "Dataset configuration name (GSM8K: 'main' or 'socratic')."),
    Field(
        "dataset_max_samples",
        "data",
        int,
        "Rows read at most from the dataset, train split first, then test (0 = no cap).",
        minimum=0,
    ),
    Field("train_limit", "data", int, "Training prompts used at most, before min_reward filtering (0 = all).", minimum=0),
    Field("eval_limit", "data", int, "Evaluation rows kept at most from the test split (0 = all).", minimum=0),
    Field(
        "invalid_rows",
        "data",
        str,
        "What to do with a row that has no final assistant turn or no parsable '#### N' answer.",
        choices=("reject", "skip"),
    ),
    Field("synthetic_train_size", "data", int, "Training problems generated for dataset 'synthetic'.", minimum=1),
    Field("synthetic_test_size", "data", int, "Held-out problems generated for dataset 'synthetic'.", minimum=1),
    Field("seed", "data", int, "Seed for data order, sampling and weight updates.", minimum=0),
    # --- distill
    Field(
        "lmbda",
        "distill",
        float,
        "Share of batches whose completions the student samples itself (GKD lambda; 1.0 = fully on-policy).",
        minimum=0.0,
        maximum=1.0,
    ),
    Field(
        "beta",
        "distill",
        float,
        "Generalized JSD weight: 0 = forward KL(teacher||student), 0.5 = symmetric JSD, 1 = reverse KL.",
        minimum=0.0,
        maximum=1.0,
    ),
    Field(
        "temperature",
        "distill",
        float,
        "Sampling temperature of on-policy rollouts (top_p 1.0, top_k 0); the loss itself uses temperature 1.",
        minimum=0.0,
        exclusive_minimum=True,
    ),
    Field("max_new_tokens", "distill", int, "Tokens generated at most per rollout and per evaluation answer.", minimum=1),
    Field("seq_kd", "distill", bool, "On off-policy batches, train on teacher-generated completions (sequence-level KD)."),
    Field(
        "min_reward",
        "distill",
        float,
        "Keep a training prompt only if its reward (teacher pass rate, or a trace's stored reward) reaches this.",
        minimum=0.0,
        maximum=1.0,
    ),
    Field("reward_samples", "distill", int, "Teacher solutions sampled per prompt to measure its pass rate.", minimum=1),
    Field(
        "reward_temperature",
        "distill",
        float,
        "Sampling temperature of the teacher's reward solutions; shared by both gears so their cache is reused.",
        minimum=0.0,
        exclusive_minimum=True,
    ),
    Field("reward_max_new_tokens", "distill", int, "Tokens generated at most per reward solution.", minimum=1),
    Field("reward_batch_size", "distill", int, "Prompts per batch when sampling reward solutions.", minimum=1),
    # --- train
    Field("learning_rate", "train", float, "Peak AdamW learning rate.", minimum=0.0, exclusive_minimum=True),
    Field("max_steps", "train", int, "Optimizer steps to run; -1 = decide by num_train_epochs.", minimum=-1),
    Field("num_train_epochs", "train", float, "Passes over the kept training prompts (used when max_steps is -1).", minimum=0.0, exclusive_minimum=True),
    Field("per_device_train_batch_size", "train", int, "Prompts per device per micro-batch.", minimum=1),
    Field("gradient_accumulation_steps", "train", int, "Micro-batches accumulated per optimizer step.", minimum=1),
    Field(
        "lr_scheduler_type",
        "train",
        str,
        "Learning-rate schedule (transformers names).",
        choices=("linear", "cosine", "constant", "constant_with_warmup"),
    ),
    Field("warmup_steps", "train", int, "Linear warm-up length in optimizer steps.", minimum=0),
    Field("max_grad_norm", "train", float, "Gradient clipping norm (0 = no clipping).", minimum=0.0),
    Field("weight_decay", "train", float, "AdamW weight decay.", minimum=0.0),
    Field("max_length", "train", int, "Tokens kept at most per prompt + reference answer in a batch.", minimum=8),
    Field("bf16", "train", bool, "Train in bf16 on CUDA; CPU runs always use fp32."),
    Field("logging_steps", "train", int, "Optimizer steps between train metrics lines.", minimum=1),
    Field("save_steps", "train", int, "Optimizer steps between checkpoints (a stop also saves one).", minimum=1),
    Field("save_total_limit", "train", int, "Checkpoints kept on disk, newest first.", minimum=1),
    Field(
        "stop_after_nonfinite",
        "train",
        int,
        "Consecutive steps with a non-finite loss or grad_norm after which the run stops as diverged.",
        minimum=1,
    ),
    # --- eval
    Field("eval_sample_size", "eval", int, "Held-out prompts scored by greedy decoding at each evaluation.", minimum=1),
    Field("eval_steps", "eval", int, "Optimizer steps between evaluations (0 = only before and after training).", minimum=0),
    Field("eval_batch_size", "eval", int, "Prompts per batch in greedy evaluation (left padded).", minimum=1),
    # --- logging
    Field("report_to", "logging", str, "Experiment tracker.", choices=("wandb", "none")),
    Field("wandb_project", "logging", str, "W&B project name."),
    Field(
        "wandb_mode",
        "logging",
        str,
        "'auto' goes offline when no API key or no network is found; the others are W&B's own modes.",
        choices=("auto", "online", "offline", "disabled"),
    ),
    # --- launch
    Field("processes", "launch", int, "Training processes per node (1 = plain process, more = accelerate launch).", minimum=1),
    Field("nodes", "launch", int, "Machines taking part in the run.", minimum=1),
    Field("node_rank", "launch", int, "This machine's rank among `nodes`.", minimum=0),
    Field("main_address", "launch", str, "Address of the rank-0 machine for multi-node runs."),
    Field("main_port", "launch", int, "Port of the rank-0 machine for multi-node runs.", minimum=1, maximum=65535),
    Field(
        "mixed_precision",
        "launch",
        str,
        "accelerate mixed precision; 'auto' = bf16 when `bf16` is true and CUDA is present, else no.",
        choices=("auto", "no", "bf16", "fp16"),
    ),
    Field("accelerate_config", "launch", str, "Optional accelerate or DeepSpeed config file for multi-process runs."),
    Field(
        "cuda_visible_devices",
        "launch",
        str,
        "GPUs the run may use, as CUDA_VISIBLE_DEVICES ('' = inherit).",
        pattern=r"|[0-9]+(,[0-9]+)*|(GPU|MIG)-[\w/-]+(,(GPU|MIG)-[\w/-]+)*",
        pattern_doc="comma-separated GPU indices (0,1) or GPU/MIG UUIDs, or '' to inherit",
    ),
    # --- gate
    Field("require_finished", "gate", bool, "Gate: the run ended with status 'finished'."),
    Field("require_loss_decrease", "gate", bool, "Gate: the last train loss is below the first."),
    Field(
        "eval_loss_tolerance",
        "gate",
        float,
        "Gate: the last eval loss may exceed the first by at most this fraction.",
        minimum=0.0,
    ),
    Field("grad_norm_bound", "gate", float, "Gate: every logged grad_norm stays below this.", minimum=0.0, exclusive_minimum=True),
    Field(
        "min_success_delta",
        "gate",
        float,
        "Gate: final accuracy minus baseline accuracy reaches this (fraction, 0.1 = +10 points).",
        minimum=-1.0,
        maximum=1.0,
    ),
)

FIELDS_BY_NAME: dict[str, Field] = {field.name: field for field in FIELDS}
