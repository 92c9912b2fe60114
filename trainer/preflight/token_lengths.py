"""Token lengths of chat-formatted prompts and reference solutions, measured with `tokenizers`."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Mapping

from tokenizers import Tokenizer

from trainer.preflight.chat_template import TemplateRenderError, render_chat
from trainer.preflight.dataset_sample import DatasetSample


@dataclass(frozen=True)
class LengthStats:
    """Token counts over a dataset sample; the reference count includes the closing eos token."""

    rows: int
    source: str
    prompt_p95: int
    prompt_max: int
    reference_p95: int
    templated: bool

    def to_dict(self) -> dict:
        return asdict(self)


def measure_lengths(
    tokenizer_file: Path,
    chat_template: str | None,
    special_tokens: Mapping[str, str | None],
    sample: DatasetSample,
) -> LengthStats:
    """Tokenize each sampled prompt as the trainer formats it, and each reference solution."""
    tokenizer = Tokenizer.from_file(str(tokenizer_file))
    templated = chat_template is not None
    prompts = []
    for messages in sample.prompts:
        text = None
        if chat_template is not None:
            try:
                text = render_chat(chat_template, messages, add_generation_prompt=True, special_tokens=special_tokens)
            except TemplateRenderError:
                templated = False
        # Without a usable template, plain turns still give a lower bound on the prompt length.
        prompts.append(text if text is not None else "\n".join(message["content"] for message in messages))

    # The template already contains every special token, so none are added (as the trainer does).
    prompt_lengths = [len(encoding.ids) for encoding in tokenizer.encode_batch(prompts, add_special_tokens=False)]
    reference_lengths = [
        len(encoding.ids) + 1 for encoding in tokenizer.encode_batch(sample.references, add_special_tokens=False)
    ]
    return LengthStats(
        rows=len(prompts),
        source=sample.source,
        prompt_p95=percentile(prompt_lengths, 95),
        prompt_max=max(prompt_lengths),
        reference_p95=percentile(reference_lengths, 95),
        templated=templated,
    )


def percentile(values: list[int], percent: float) -> int:
    """Nearest-rank percentile: the smallest value with at least `percent`% of values at or below it."""
    ordered = sorted(values)
    rank = max(1, math.ceil(percent / 100 * len(ordered)))
    return ordered[rank - 1]
