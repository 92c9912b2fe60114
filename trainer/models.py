"""Loading the student and the teacher: references, device, dtype, tokenizer and vocabulary."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, GenerationConfig, PreTrainedModel, PreTrainedTokenizerBase

logger = logging.getLogger(__name__)

DEMO = "demo"


class ModelError(ValueError):
    """A model or tokenizer that cannot be used; the message names it and the fix."""


@dataclass(frozen=True)
class Placement:
    """Device and precision of the run."""

    device: str
    dtype: torch.dtype
    bf16: bool

    @property
    def dtype_name(self) -> str:
        return str(self.dtype).removeprefix("torch.")


def choose_placement(config: Mapping[str, Any]) -> Placement:
    """CUDA in bf16 when available and `bf16` is set; CPU always in fp32 (bf16 matmuls crawl there)."""
    if torch.cuda.is_available():
        use_bf16 = bool(config["bf16"]) and torch.cuda.is_bf16_supported()
        # Each rank of a multi-process run owns the GPU of its local rank.
        device = f"cuda:{os.environ.get('LOCAL_RANK', '0')}"
        return Placement(device, torch.bfloat16 if use_bf16 else torch.float32, use_bf16)
    return Placement("cpu", torch.float32, False)


def resolve_model_paths(config: Mapping[str, Any], seed: int = 0) -> tuple[str, str]:
    """Turn the config's student and teacher references into loadable paths or hub ids."""
    student, teacher = config["student"], config["teacher"]
    if DEMO in (student, teacher):
        from trainer.demo import ensure_demo_models

        demo = ensure_demo_models(seed=seed)
        student = str(demo.student_dir) if student == DEMO else student
        teacher = str(demo.teacher_dir) if teacher == DEMO else teacher
    return student, teacher


def load_tokenizer(reference: str, trust_remote_code: bool = False) -> PreTrainedTokenizerBase:
    """Load the student's tokenizer; raise ModelError when it has no chat template."""
    try:
        tokenizer = AutoTokenizer.from_pretrained(reference, trust_remote_code=trust_remote_code)
    except (OSError, ValueError) as error:
        raise ModelError(f"cannot load tokenizer {reference!r}: {error}") from error
    if not tokenizer.chat_template:
        raise ModelError(
            f"tokenizer {reference!r} has no chat template, so prompts cannot be formatted; "
            "use an Instruct/chat checkpoint or add a chat_template to its tokenizer_config.json"
        )
    if tokenizer.pad_token_id is None:
        # Batched generation needs a pad id, and the eos token is the usual stand-in. The
        # completion mask still keeps the real final EOS as a trained label.
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "left"  # batched generation continues from the right edge
    return tokenizer


def load_model(reference: str, placement: Placement, trust_remote_code: bool = False) -> PreTrainedModel:
    """Load a causal LM in the run's dtype with a generation config holding token ids only."""
    try:
        model = AutoModelForCausalLM.from_pretrained(reference, dtype=placement.dtype, trust_remote_code=trust_remote_code)
    except (OSError, ValueError) as error:
        raise ModelError(f"cannot load model {reference!r}: {error}") from error
    model.generation_config = clean_generation_config(model.generation_config)
    return model.to(placement.device)


def clean_generation_config(original: GenerationConfig | None) -> GenerationConfig:
    """Keep only the special-token ids of a model's generation config.

    transformers fills every unset generation parameter from the model's own generation_config
    (e.g. Qwen2.5 ships top_p 0.8, top_k 20, repetition_penalty 1.05); keeping only the token ids
    makes sampling use exactly the gear's settings.
    """
    ids = {}
    if original is not None:
        for name in ("bos_token_id", "eos_token_id", "pad_token_id", "decoder_start_token_id"):
            value = getattr(original, name, None)
            if value is not None:
                ids[name] = value
    return GenerationConfig(**ids)


def match_teacher_vocab(teacher: PreTrainedModel, student: PreTrainedModel) -> None:
    """Slice the teacher's output rows to the student's vocabulary width when they differ.

    Checkpoints of one family pad their embedding matrices to different widths (Qwen2.5-1.5B:
    151936 rows, 7B/14B: 152064); the extra rows are padding that no token maps to, so dropping
    them leaves the shared tokenizer's distribution intact. A teacher narrower than the student
    cannot be widened meaningfully.
    """
    student_vocab = student.config.get_text_config().vocab_size
    teacher_vocab = teacher.config.get_text_config().vocab_size
    if teacher_vocab == student_vocab:
        return
    if teacher_vocab < student_vocab:
        raise ModelError(
            f"teacher vocab_size {teacher_vocab} is smaller than the student's {student_vocab}; "
            "use a teacher whose embedding matrix covers the student's vocabulary"
        )
    logger.info("slicing teacher logits from %d to the student's %d vocabulary rows", teacher_vocab, student_vocab)
    teacher.resize_token_embeddings(student_vocab)


def eos_token_ids(tokenizer: PreTrainedTokenizerBase, model: PreTrainedModel) -> list[int]:
    """Collect the ids that end a completion: the tokenizer's eos and the model's generation eos ids."""
    ids: set[int] = set()
    if tokenizer.eos_token_id is not None:
        ids.add(int(tokenizer.eos_token_id))
    configured = model.generation_config.eos_token_id
    if isinstance(configured, int):
        ids.add(configured)
    elif configured:
        ids.update(int(token) for token in configured)
    return sorted(ids)


def model_identity(reference: str) -> str:
    """Describe a model's weights for cache keys: the path plus weight file sizes and times."""
    path = Path(reference)
    if not path.is_dir():
        return reference
    parts = [str(path.resolve())]
    for weights in sorted(path.glob("*.safetensors")) + sorted(path.glob("*.bin")):
        stat = weights.stat()
        parts.append(f"{weights.name}:{stat.st_size}:{int(stat.st_mtime)}")
    return "|".join(parts)
