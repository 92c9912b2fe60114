"""Estimate of a GKD run's peak accelerator memory per device, from shapes and settings alone.

Memory that lives for the whole run (both models' weights) is counted once. Memory that exists
in one phase only is counted for the largest phase:

    peak = weights + max(reward sampling,
                         optimizer states + max(rollout, seq_kd rollout, evaluation, loss step))

Every input is a plain number, so the estimate can be checked for any model pair without files.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

GIB = 1024**3

DTYPE_BYTES = {
    "float64": 8,
    "float32": 4,
    "bfloat16": 2,
    "float16": 2,
    "float8_e4m3fn": 1,
    "float8_e5m2": 1,
    "int8": 1,
}

# Full-vocabulary fp32 tensors (batch × sequence × vocabulary) alive at the peak of TRL 1.16's
# generalized JSD loss, forward and backward, besides the two logits tensors. The probe in
# bench/preflight_memory.py measured 14.9 with 0 < beta < 1 (log-probabilities, the stacked pair
# and logsumexp intermediates of the mixture, both KL terms) and 7.0 to 7.5 with beta 0 or 1
# (one KL term), on CPU in fp32.
LOSS_COPIES_MIXTURE = 15
LOSS_COPIES_SINGLE_KL = 7

# Activations one decoder layer keeps per token for the backward pass, in elements of the run
# dtype. About 13 are hidden-size: the two RMSNorm inputs, kept in fp32 and so counted double,
# the attention projections' inputs, q, k, v and the attention output. About 4 are MLP-size:
# the gate and up outputs, the activation and their product.
ACTIVATION_HIDDEN_COPIES = 13
ACTIVATION_MLP_COPIES = 4

# With less than this share of the GPU's memory left over, the CUDA context and allocator
# fragmentation, which the estimate leaves out, can still end the run out of memory.
TIGHT_HEADROOM = 0.10

# Precision of the AdamW state. "param" means moments in the parameter dtype and no master copy,
# which is what torch.optim.AdamW does for a model loaded in bf16, as the trainer loads it.
# "fp32" means fp32 moments plus an fp32 master copy of 16-bit weights, as in mixed-precision
# setups such as DeepSpeed.
OPTIMIZER_STATES = ("param", "fp32")

PHASES = ("weights", "optimizer", "rollout", "seq_kd rollout", "evaluation", "loss step", "reward sampling")
# Phases of a training step; a step is in one of them at a time.
STEP_PHASES = ("loss step", "rollout", "seq_kd rollout", "evaluation")


@dataclass(frozen=True)
class ModelShape:
    """The numbers of one model that its memory depends on; `dtype` is the run's weight dtype."""

    params: int
    layers: int
    kv_heads: int
    head_dim: int
    vocab_size: int
    hidden_size: int = 0
    intermediate_size: int = 0
    dtype: str = "bfloat16"

    @property
    def dtype_bytes(self) -> int:
        return DTYPE_BYTES[self.dtype]

    def kv_cache_bytes(self, sequences: int, tokens: int) -> int:
        """Keys and values of every layer for `sequences` sequences of `tokens` tokens."""
        return 2 * self.layers * self.kv_heads * self.head_dim * self.dtype_bytes * sequences * tokens


@dataclass(frozen=True)
class RunShape:
    """Batch and length settings of a run, per device."""

    batch_size: int
    prompt_tokens: int
    max_new_tokens: int
    # lmbda > 0: the student samples rollouts.
    student_rollouts: bool = True
    # seq_kd with lmbda < 1: the teacher samples the off-policy completions.
    teacher_rollouts: bool = False
    optimizer_states: str = "param"
    eval_batch_size: int = 0
    # reward_batch_size × reward_samples sequences, or 0 when no reward is sampled.
    reward_sequences: int = 0
    reward_max_new_tokens: int = 0
    processes: int = 1
    # Generalized JSD weight; 0 and 1 skip the mixture distribution and need fewer temporaries.
    beta: float = 0.5
    # With gradient checkpointing, backward keeps only each layer's input and recomputes one layer
    # at a time, and TRL 1.16's GKD samples rollouts with use_cache=False (no KV cache).
    gradient_checkpointing: bool = False

    @property
    def sequence_tokens(self) -> int:
        return self.prompt_tokens + self.max_new_tokens


@dataclass(frozen=True)
class MemoryItem:
    """One line of the breakdown."""

    name: str
    phase: str
    bytes: int
    note: str = ""


@dataclass
class MemoryEstimate:
    """The breakdown and the peak it adds up to."""

    items: list[MemoryItem]
    peak_bytes: int
    peak_phase: str
    student: ModelShape
    teacher: ModelShape
    run: RunShape
    assumptions: list[str] = field(default_factory=list)

    def phase_bytes(self, phase: str) -> int:
        return sum(item.bytes for item in self.items if item.phase == phase)

    def item_bytes(self, name: str) -> int:
        return sum(item.bytes for item in self.items if item.name == name)

    @property
    def peak_gib(self) -> float:
        return self.peak_bytes / GIB

    def to_dict(self) -> dict:
        return {
            "peak_bytes": self.peak_bytes,
            "peak_gib": round(self.peak_gib, 2),
            "peak_phase": self.peak_phase,
            "items": [asdict(item) for item in self.items],
            "student": asdict(self.student),
            "teacher": asdict(self.teacher),
            "run": asdict(self.run),
            "assumptions": self.assumptions,
        }


def estimate_memory(student: ModelShape, teacher: ModelShape, run: RunShape) -> MemoryEstimate:
    """Estimate peak memory per device of a full fine-tune of `student` distilled from `teacher`."""
    if run.optimizer_states not in OPTIMIZER_STATES:
        raise ValueError(f"invalid optimizer_states {run.optimizer_states!r}: use one of {', '.join(OPTIMIZER_STATES)}")
    tokens = run.batch_size * run.sequence_tokens
    items = [
        MemoryItem("teacher weights", "weights", teacher.params * teacher.dtype_bytes, f"{teacher.dtype}, frozen"),
        MemoryItem("student weights", "weights", student.params * student.dtype_bytes, student.dtype),
    ]
    items += _optimizer_items(student, run.optimizer_states)

    items.append(MemoryItem("student gradients", "loss step", student.params * student.dtype_bytes, student.dtype))
    if run.processes > 1:
        items.append(
            MemoryItem("DDP gradient buckets", "loss step", student.params * student.dtype_bytes, "a second copy of the gradients")
        )
    items.append(_activations(student, tokens, run.gradient_checkpointing))
    items.append(
        MemoryItem(
            "logits (student + teacher)",
            "loss step",
            tokens * (student.vocab_size + teacher.vocab_size) * 4,
            f"fp32, {tokens} tokens × full vocabulary",
        )
    )
    copies = LOSS_COPIES_SINGLE_KL if run.beta in (0.0, 1.0) else LOSS_COPIES_MIXTURE
    items.append(
        MemoryItem(
            "loss temporaries",
            "loss step",
            tokens * student.vocab_size * 4 * copies,
            f"{copies} fp32 full-vocabulary tensors of the JSD loss",
        )
    )

    if run.student_rollouts and not run.gradient_checkpointing:
        items.append(
            MemoryItem(
                "student KV cache",
                "rollout",
                student.kv_cache_bytes(run.batch_size, run.sequence_tokens),
                f"{run.batch_size} × {run.sequence_tokens} tokens",
            )
        )
    if run.teacher_rollouts and not run.gradient_checkpointing:
        items.append(
            MemoryItem(
                "teacher KV cache",
                "seq_kd rollout",
                teacher.kv_cache_bytes(run.batch_size, run.sequence_tokens),
                f"{run.batch_size} × {run.sequence_tokens} tokens",
            )
        )
    if run.eval_batch_size:
        items.append(
            MemoryItem(
                "student KV cache (evaluation)",
                "evaluation",
                student.kv_cache_bytes(run.eval_batch_size, run.sequence_tokens),
                f"{run.eval_batch_size} × {run.sequence_tokens} tokens",
            )
        )
    if run.reward_sequences:
        reward_tokens = run.prompt_tokens + run.reward_max_new_tokens
        items.append(
            MemoryItem(
                "teacher KV cache (reward sampling)",
                "reward sampling",
                teacher.kv_cache_bytes(run.reward_sequences, reward_tokens),
                f"before training, {run.reward_sequences} × {reward_tokens} tokens",
            )
        )
    return _add_up(items, student, teacher, run)


def _activations(student: ModelShape, tokens: int, gradient_checkpointing: bool) -> MemoryItem:
    per_layer = ACTIVATION_HIDDEN_COPIES * student.hidden_size + ACTIVATION_MLP_COPIES * student.intermediate_size
    if gradient_checkpointing:
        elements = tokens * (student.layers * student.hidden_size + per_layer)
        note = f"{tokens} tokens, layer inputs plus one recomputed layer"
    else:
        elements = tokens * student.layers * per_layer
        note = f"{tokens} tokens kept for backward"
    return MemoryItem("student activations", "loss step", elements * student.dtype_bytes, note)


def _optimizer_items(student: ModelShape, optimizer_states: str) -> list[MemoryItem]:
    if optimizer_states == "param":
        moments = student.params * 2 * student.dtype_bytes
        return [MemoryItem("AdamW moments", "optimizer", moments, f"2 × {student.dtype}")]
    items = [MemoryItem("AdamW moments", "optimizer", student.params * 8, "2 × fp32")]
    if student.dtype_bytes < 4:
        items.append(MemoryItem("fp32 master weights", "optimizer", student.params * 4, "mixed precision"))
    return items


def _add_up(items: list[MemoryItem], student: ModelShape, teacher: ModelShape, run: RunShape) -> MemoryEstimate:
    by_phase = {phase: sum(item.bytes for item in items if item.phase == phase) for phase in PHASES}
    training_phase = max(STEP_PHASES, key=lambda phase: by_phase[phase])
    training = by_phase["optimizer"] + by_phase[training_phase]
    if by_phase["reward sampling"] > training:
        peak_phase, variable = "reward sampling", by_phase["reward sampling"]
    else:
        peak_phase, variable = training_phase, training
    assumptions = [
        "peak = weights + max(reward sampling, optimizer states + max(rollout, seq_kd rollout, evaluation, loss step))",
        "AdamW moments in the parameter dtype, no master copy (torch.optim.AdamW on a bf16 model)"
        if run.optimizer_states == "param"
        else "AdamW moments in fp32 plus an fp32 master copy of 16-bit weights",
        f"prompt {run.prompt_tokens} + max_new_tokens {run.max_new_tokens} tokens per sequence, "
        f"batch {run.batch_size} per device",
        "gradient checkpointing on: layer inputs kept, rollouts without KV cache"
        if run.gradient_checkpointing
        else "gradient checkpointing off: every layer's activations kept, rollouts with KV cache",
        "logits counted in fp32; the teacher's are sliced to the student's vocabulary for the loss",
        "not counted: CUDA context, allocator fragmentation, attention score matrices (SDPA/flash kernels avoid them)",
    ]
    return MemoryEstimate(
        items=items,
        peak_bytes=by_phase["weights"] + variable,
        peak_phase=peak_phase,
        student=student,
        teacher=teacher,
        run=run,
        assumptions=assumptions,
    )


@dataclass(frozen=True)
class Fit:
    """Comparison of an estimated peak with a device's memory."""

    verdict: str  # "fits", "tight" or "does not fit"
    headroom_bytes: int
    capacity_bytes: int


def judge_fit(peak_bytes: int, capacity_bytes: int) -> Fit:
    """Return "fits" with at least TIGHT_HEADROOM of `capacity_bytes` to spare, "tight" below that."""
    headroom = capacity_bytes - peak_bytes
    if headroom < 0:
        verdict = "does not fit"
    elif headroom < TIGHT_HEADROOM * capacity_bytes:
        verdict = "tight"
    else:
        verdict = "fits"
    return Fit(verdict=verdict, headroom_bytes=headroom, capacity_bytes=capacity_bytes)
