"""The individual checks: each takes facts already read and returns one Check."""

from __future__ import annotations

from typing import Any, Mapping

from trainer.preflight.chat_template import TemplateRenderError, render_chat
from trainer.preflight.gpu import GpuInfo
from trainer.preflight.memory import GIB, TIGHT_HEADROOM, MemoryEstimate, judge_fit
from trainer.preflight.model_files import ModelFacts
from trainer.preflight.report import Check
from trainer.preflight.token_lengths import LengthStats
from trainer.prompts import build_messages

# A fixed conversation that both chat templates render, to compare how they format it.
PROBE_QUESTION = "Tom has 3 apples and buys 4 more. How many apples does he have?"
PROBE_ANSWER = "Tom has 3 + 4 = 7 apples.\n#### 7"


def check_files(facts: ModelFacts) -> Check:
    """Check a model's folder, config.json and tokenizer files; error when one is missing or invalid."""
    name = f"{facts.role} files"
    if facts.file_errors:
        return Check(name, "error", "; ".join(facts.file_errors))
    files = ", ".join(["config.json", *facts.tokenizer.files])
    return Check(name, "ok", f"{facts.path}: {files}")


def check_weights(facts: ModelFacts) -> Check:
    """Check the weight files: error when missing or corrupt, warning when only pickles give a count."""
    name = f"{facts.role} weights"
    if facts.path is None:
        return Check(name, "unchecked", f"skipped: no {facts.role} folder")
    if facts.weight_errors:
        return Check(name, "error", "; ".join(facts.weight_errors))
    if facts.weight_warnings:
        return Check(name, "warning", "; ".join(facts.weight_warnings))
    return Check(
        name,
        "ok",
        f"{format_params(facts.param_count)} parameters in {facts.dtype} ({facts.param_source})",
    )


def check_remote_code(facts: ModelFacts, trust_remote_code: bool) -> Check:
    """Flag an error when the checkpoint needs its own Python code and trust_remote_code is false."""
    name = f"{facts.role} remote code"
    if facts.path is None or (facts.file_errors and facts.architecture is None):
        return Check(name, "unchecked", f"skipped: {facts.role} config.json could not be read")
    if not facts.needs_remote_code:
        if facts.auto_map:
            return Check(
                name,
                "ok",
                f"auto_map is set, but the installed transformers supports model_type {facts.model_type!r}, "
                "so no remote code runs",
            )
        return Check(name, "ok", f"{facts.architecture} loads without remote code")
    classes = ", ".join(f"{key} -> {value}" for key, value in facts.auto_map.items())
    if trust_remote_code:
        return Check(name, "ok", f"runs code shipped in {facts.path} ({classes}); allowed by trust_remote_code=true")
    return Check(
        name,
        "error",
        f"{facts.role} needs code shipped with the checkpoint (auto_map: {classes}) but trust_remote_code is false; "
        f"review the Python files in {facts.path} and pass trust_remote_code=true, or use a checkpoint that "
        "transformers supports natively",
    )


def check_special_tokens(facts: ModelFacts) -> Check:
    """Check the student's eos and pad tokens; error when there is no usable eos token."""
    name = "special tokens"
    tokenizer = facts.tokenizer
    if not tokenizer.has_files:
        return Check(name, "unchecked", f"skipped: {facts.role} has no tokenizer files")

    eos, pad = tokenizer.eos_token, tokenizer.pad_token
    if eos is None:
        return Check(
            name,
            "error",
            f"{facts.role} tokenizer has no eos_token (tokenizer_config.json or special_tokens_map.json in {facts.path}), "
            "so rollouts never end a turn before max_new_tokens; set eos_token to the chat template's end-of-turn token",
        )
    eos_id = tokenizer.token_id(eos)
    if tokenizer.token_ids and eos_id is None:
        return Check(
            name,
            "error",
            f"{facts.role} eos_token {eos!r} is not in the tokenizer's vocabulary; set eos_token to a token of {facts.path}/tokenizer.json",
        )

    described_eos = f"eos {eos!r} (id {eos_id})"
    if pad is None:
        return Check(name, "ok", f"{described_eos}; no pad_token, so the trainer pads with eos")
    if pad == eos:
        # TRL 1.16's GKD collator and rollouts mask padding by attention mask, never by token id,
        # so padding with the eos token does not hide real ends of turns from the loss.
        return Check(
            name,
            "ok",
            f"{described_eos}; pad_token equals eos_token, which this trainer handles because it masks padding "
            "by attention mask, not by token id",
        )

    pad_id = tokenizer.token_id(pad)
    if tokenizer.token_ids and pad_id is None:
        return Check(
            name,
            "warning",
            f"{described_eos}; pad_token {pad!r} is not in the vocabulary, so loading the tokenizer adds a new token "
            "without an embedding row; set pad_token to an existing token",
        )
    return Check(name, "ok", f"{described_eos}, pad {pad!r} (id {pad_id})")


def check_vocabulary(student: ModelFacts, teacher: ModelFacts) -> Check:
    """Compare the tokenizers: error when they differ, warning when one has padded embedding rows."""
    name = "vocabulary"
    for facts in (student, teacher):
        if facts.tokenizer.fingerprint is None:
            return Check(name, "unchecked", f"skipped: {facts.role} has no readable tokenizer files")
    if student.tokenizer.fingerprint != teacher.tokenizer.fingerprint:
        return Check(
            name,
            "error",
            f"different tokenizers: student {format_int(student.tokenizer.size)} tokens "
            f"(fingerprint {student.tokenizer.fingerprint}), teacher {format_int(teacher.tokenizer.size)} tokens "
            f"(fingerprint {teacher.tokenizer.fingerprint}). GKD compares full next-token distributions token id by "
            "token id, so both need the same tokenizer: pick a teacher from the student's model family",
        )
    size = student.tokenizer.size
    if student.vocab_size is None or teacher.vocab_size is None:
        return Check(name, "unchecked", "same tokenizer; vocab_size unknown because a config.json could not be read")
    for facts in (student, teacher):
        if size is not None and size > facts.vocab_size:
            return Check(
                name,
                "error",
                f"the tokenizer has {format_int(size)} tokens but {facts.role} vocab_size is {format_int(facts.vocab_size)}, "
                f"so token ids from {format_int(facts.vocab_size)} on have no embedding row; use the tokenizer that "
                f"ships with the {facts.role} checkpoint",
            )
    if student.vocab_size == teacher.vocab_size:
        return Check(name, "ok", f"same tokenizer ({format_int(size)} tokens), vocab_size {format_int(student.vocab_size)} in both")
    if teacher.vocab_size < student.vocab_size:
        return Check(
            name,
            "error",
            f"same tokenizer, but the teacher's vocab_size {format_int(teacher.vocab_size)} is below the student's "
            f"{format_int(student.vocab_size)}; the trainer slices the teacher's logits to the student's width, which "
            "needs a teacher at least as wide: use a teacher whose embedding matrix covers the student's",
        )
    return Check(
        name,
        "warning",
        f"same tokenizer ({format_int(size)} tokens), but vocab_size differs: student {format_int(student.vocab_size)}, "
        f"teacher {format_int(teacher.vocab_size)} (padded embedding rows). The trainer slices the teacher's logits "
        f"to the student's {format_int(student.vocab_size)} columns; the rows it drops map to no token",
    )


def check_chat_template(student: ModelFacts, teacher: ModelFacts) -> Check:
    """Compare chat templates: error without a student template, warning when the teacher's differs."""
    name = "chat template"
    if not student.tokenizer.has_files:
        return Check(name, "unchecked", "skipped: the student has no tokenizer files")
    if not student.has_chat_template:
        return Check(
            name,
            "error",
            f"the student has no chat template (none in chat_template.jinja, chat_template.json or "
            f"tokenizer_config.json of {student.path}), so prompts cannot be formatted; use an Instruct "
            "checkpoint (e.g. Qwen/Qwen2.5-7B-Instruct) or add a chat_template to its tokenizer_config.json",
        )

    messages = build_messages(PROBE_QUESTION, PROBE_ANSWER)
    try:
        student_text = _render(student, messages)
    except TemplateRenderError as error:
        return Check(name, "error", f"the student's chat template fails on a system + user + assistant conversation: {error}")

    if not teacher.tokenizer.has_files:
        return Check(name, "unchecked", "the student's template renders; the teacher has no tokenizer files to compare")
    if not teacher.has_chat_template:
        return Check(
            name,
            "warning",
            "the teacher has no chat template, so it scores conversations in the student's format without "
            "having been tuned on any; use the teacher's Instruct checkpoint",
        )
    try:
        teacher_text = _render(teacher, messages)
    except TemplateRenderError as error:
        if teacher.tokenizer.chat_template == student.tokenizer.chat_template:
            return Check(name, "ok", "same chat template text in both")
        return Check(
            name,
            "warning",
            f"the teacher's chat template fails to render ({error}) and its text differs from the student's; "
            "the teacher scores text in the student's format, so use a teacher of the student's family",
        )

    if student_text == teacher_text:
        return Check(name, "ok", f"both templates format a conversation identically ({len(student_text)} characters)")
    position = next((i for i, (a, b) in enumerate(zip(student_text, teacher_text)) if a != b), min(len(student_text), len(teacher_text)))
    return Check(
        name,
        "warning",
        f"the teacher's chat template formats the same conversation differently (first difference at character "
        f"{position}: student {student_text[position:position + 30]!r}, teacher {teacher_text[position:position + 30]!r}). "
        "The teacher scores the student's formatting, which it may judge worse than its own: use a teacher of the "
        "student's family, or check that the difference is harmless",
    )


def check_sizes(student: ModelFacts, teacher: ModelFacts) -> Check:
    """Warn when the teacher is not larger than the student."""
    name = "sizes"
    if student.param_count is None or teacher.param_count is None:
        return Check(name, "unchecked", "skipped: a parameter count is unknown")
    described = f"student {format_params(student.param_count)}, teacher {format_params(teacher.param_count)} parameters"
    if teacher.param_count <= student.param_count:
        return Check(
            name,
            "warning",
            f"the teacher is not larger than the student ({described}); distillation usually only helps from a "
            "stronger, larger teacher: swap them or pick a larger teacher",
        )
    return Check(name, "ok", f"{described} ({teacher.param_count / student.param_count:.1f}×)")


def check_context(
    student: ModelFacts, teacher: ModelFacts, lengths: LengthStats | None, skipped: str, config: Mapping[str, Any]
) -> Check:
    """Flag an error when p95 prompt + max_new_tokens exceed either model's max_position_embeddings."""
    name = "context"
    if lengths is None:
        return Check(name, "unchecked", f"prompt lengths unchecked: {skipped}")
    limits = [(f.max_position_embeddings, f.role) for f in (student, teacher) if f.max_position_embeddings]
    if not limits:
        return Check(name, "unchecked", "max_position_embeddings missing from both config.json files")
    max_positions, role = min(limits)
    max_new_tokens = config["max_new_tokens"]
    needed = lengths.prompt_p95 + max_new_tokens
    described = f"p95 prompt {format_int(lengths.prompt_p95)} tokens + max_new_tokens {max_new_tokens} = {format_int(needed)}"
    if needed > max_positions:
        allowed = max_positions - lengths.prompt_p95
        fix = f"lower max_new_tokens to {allowed} or less" if allowed > 0 else "shorten the prompts"
        return Check(
            name,
            "error",
            f"{described} exceeds the {role}'s max_position_embeddings {format_int(max_positions)} "
            f"(over {lengths.rows} rows of {lengths.source}); {fix}, or use models with a longer context",
        )
    if lengths.prompt_p95 > config["max_length"]:
        return Check(
            name,
            "warning",
            f"p95 prompt {format_int(lengths.prompt_p95)} tokens is above max_length {config['max_length']}, so the "
            "collator cuts the start of long prompts (the system prompt first); raise max_length",
        )
    return Check(name, "ok", f"{described} fits max_position_embeddings {format_int(max_positions)} ({role})")


def check_rollout_length(lengths: LengthStats | None, skipped: str, config: Mapping[str, Any]) -> Check:
    """Warn when max_new_tokens is below the p95 length of the reference solutions."""
    name = "rollout length"
    if lengths is None:
        return Check(name, "unchecked", f"solution lengths unchecked: {skipped}")
    max_new_tokens = config["max_new_tokens"]
    described = f"max_new_tokens {max_new_tokens}, p95 reference solution {lengths.reference_p95} tokens"
    if max_new_tokens < lengths.reference_p95:
        return Check(
            name,
            "warning",
            f"{described}: rollouts rarely reach the '#### N' answer before they are cut; raise max_new_tokens to "
            f"{lengths.reference_p95} or more",
        )
    return Check(name, "ok", described)


def check_memory(estimate: MemoryEstimate | None, skipped: str, gpu: GpuInfo | None) -> Check:
    """Compare the estimated peak with the GPU: fits, tight (< 10% headroom) or does not fit."""
    name = "memory"
    if estimate is None:
        return Check(name, "unchecked", f"memory not estimated: {skipped}")

    peak = f"estimated peak {format_bytes(estimate.peak_bytes)} per GPU ({estimate.peak_phase})"
    if gpu is None:
        return Check(
            name,
            "unchecked",
            f"{peak}; no GPU found (no nvidia-smi, no /proc/driver/nvidia/gpus), pass --gpu-memory-gib N to compare",
        )
    if gpu.total_bytes is None:
        return Check(
            name,
            "unchecked",
            f"{peak}; found {gpu.name} but not its memory size without nvidia-smi, pass --gpu-memory-gib N",
        )

    fit = judge_fit(estimate.peak_bytes, gpu.total_bytes)
    capacity = f"{format_bytes(gpu.total_bytes)} of {gpu.name}"
    if fit.verdict == "does not fit":
        return Check(name, "error", f"does not fit: {peak} exceeds {capacity}. Options: {_options(estimate, gpu)}")

    share = fit.headroom_bytes / gpu.total_bytes
    if fit.verdict == "tight":
        return Check(
            name,
            "warning",
            f"tight: {peak} leaves {share:.0%} of {capacity} free (under {TIGHT_HEADROOM:.0%}); fragmentation can "
            f"still end it out of memory. Options: {_options(estimate, gpu)}",
        )
    if gpu.free_bytes is not None and estimate.peak_bytes > gpu.free_bytes:
        return Check(
            name,
            "warning",
            f"fits: {peak} within {capacity}, but only {format_bytes(gpu.free_bytes)} are free now; "
            "stop the processes that hold the rest (see nvidia-smi) before launching",
        )
    return Check(name, "ok", f"fits: {peak} within {capacity} ({share:.0%} headroom)")


def _options(estimate: MemoryEstimate, gpu: GpuInfo) -> str:
    budget = (1 - TIGHT_HEADROOM) * gpu.total_bytes
    teacher_weights = estimate.item_bytes("teacher weights")
    without_teacher = estimate.peak_bytes - teacher_weights
    optimizer = estimate.phase_bytes("optimizer")
    trainable = optimizer + estimate.item_bytes("student gradients")
    options = []
    if without_teacher < budget and teacher_weights:
        largest = int((budget - without_teacher) / estimate.teacher.dtype_bytes)
        options.append(f"a teacher under about {format_params(largest)} parameters")
    else:
        options.append(f"a smaller pair (without the teacher's weights the run still needs {format_bytes(without_teacher)})")
    options.append(f"LoRA on the student (frees about {format_bytes(trainable)} of gradients and AdamW states)")
    options.append(f"offloading the AdamW states to CPU memory with DeepSpeed ZeRO-Offload ({format_bytes(optimizer)})")
    options.append("sharding over more GPUs with FSDP or DeepSpeed ZeRO-3 (processes > 1 and an accelerate_config)")
    return "; ".join(options)


def _render(facts: ModelFacts, messages: list[dict[str, str]]) -> str:
    tokenizer = facts.tokenizer
    special = {"bos_token": tokenizer.bos_token, "eos_token": tokenizer.eos_token, "pad_token": tokenizer.pad_token}
    return render_chat(tokenizer.chat_template, messages, add_generation_prompt=False, special_tokens=special)


def format_params(count: int | None) -> str:
    """Format a parameter count as e.g. 7.62B or 494M."""
    if count is None:
        return "unknown"
    if count >= 1e9:
        return f"{count / 1e9:.2f}B"
    if count >= 1e6:
        return f"{count / 1e6:.1f}M"
    if count >= 1e3:
        return f"{count / 1e3:.1f}K"
    return str(count)


def format_bytes(count: int | float) -> str:
    """Format a byte count in GiB, or in MiB/KiB below one GiB so small models do not show 0.0."""
    for unit, size in (("GiB", GIB), ("MiB", 1024**2), ("KiB", 1024)):
        if abs(count) >= size:
            return f"{count / size:.1f} {unit}"
    return f"{int(count)} B"


def format_int(value: int | None) -> str:
    return "unknown" if value is None else f"{value:,}"
