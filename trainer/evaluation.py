"""Batched greedy evaluation: accuracy, generated length and cap hits on held-out problems."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import torch
from transformers import GenerationConfig, PreTrainedModel, PreTrainedTokenizerBase

from trainer import distributed
from trainer.answers import is_correct
from trainer.data import Example


class StopRequested(Exception):
    """Raised between batches when the run was asked to stop."""


@dataclass(frozen=True)
class Completion:
    """One generated completion; `tokens` counts up to and including the first EOS."""

    text: str
    tokens: int
    hit_cap: bool


@dataclass(frozen=True)
class EvalResult:
    accuracy: float
    mean_tokens: float
    cap_hit_rate: float
    samples: int

    def as_metrics(self) -> dict[str, float | int]:
        return {
            "accuracy": self.accuracy,
            "mean_tokens": self.mean_tokens,
            "cap_hit_rate": self.cap_hit_rate,
            "samples": self.samples,
        }


def format_prompts(tokenizer: PreTrainedTokenizerBase, examples: Sequence[Example]) -> list[str]:
    return [
        tokenizer.apply_chat_template(example.prompt_messages, add_generation_prompt=True, tokenize=False)
        for example in examples
    ]


def generate(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    prompts: Sequence[str],
    *,
    max_new_tokens: int,
    batch_size: int,
    eos_ids: Sequence[int],
    temperature: float | None = None,
    num_return_sequences: int = 1,
    should_stop: Callable[[], bool] | None = None,
    shard: tuple[int, int] = (0, 1),
) -> dict[int, list[Completion]]:
    """Generate for prompts in left-padded batches: greedy, or sampled when `temperature` is set.

    Prompts are batched in order of length so each batch carries little padding. With
    `shard=(rank, world)` this process takes every world-th batch; the batches are cut the same way
    for any world size, so a sharded evaluation scores exactly what a single process scores.
    Returns {prompt index: `num_return_sequences` completions} for the prompts of this shard.
    """
    if temperature is None:
        settings = {"do_sample": False, "num_beams": 1}
    else:
        settings = {"do_sample": True, "temperature": temperature, "top_p": 1.0, "top_k": 0}
    generation_config = GenerationConfig(
        max_new_tokens=max_new_tokens,
        eos_token_id=list(eos_ids),
        pad_token_id=tokenizer.pad_token_id,
        num_return_sequences=num_return_sequences,
        **settings,
    )
    encoded = [tokenizer(prompt, add_special_tokens=False)["input_ids"] for prompt in prompts]
    order = sorted(range(len(prompts)), key=lambda index: len(encoded[index]))
    shard_rank, shard_count = shard
    results: dict[int, list[Completion]] = {}
    eos_tensor = torch.tensor(list(eos_ids), device=model.device)
    was_training = model.training
    model.eval()
    try:
        for batch_number, start in enumerate(range(0, len(order), batch_size)):
            if batch_number % shard_count != shard_rank:
                continue
            if should_stop is not None and should_stop():
                raise StopRequested()
            batch_indices = order[start : start + batch_size]
            batch = tokenizer.pad(
                {"input_ids": [encoded[index] for index in batch_indices]}, padding=True, return_tensors="pt"
            ).to(model.device)
            with torch.inference_mode():
                output = model.generate(**batch, generation_config=generation_config)
            completions = output[:, batch["input_ids"].shape[1] :]
            for row, ids in enumerate(completions):
                index = batch_indices[row // num_return_sequences]
                results.setdefault(index, []).append(_completion(tokenizer, ids, eos_tensor))
    finally:
        model.train(was_training)
    return results


def evaluate(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    examples: Sequence[Example],
    *,
    max_new_tokens: int,
    batch_size: int,
    eos_ids: Sequence[int],
    should_stop: Callable[[], bool] | None = None,
) -> EvalResult:
    """Greedy-decode every example and score it, sharded across the run's processes."""
    completions = generate(
        model,
        tokenizer,
        format_prompts(tokenizer, examples),
        max_new_tokens=max_new_tokens,
        batch_size=batch_size,
        eos_ids=eos_ids,
        should_stop=should_stop,
        shard=(distributed.rank(), distributed.world_size()),
    )
    scored = [
        (index, (is_correct(options[0].text, examples[index].reference), options[0].tokens, options[0].hit_cap))
        for index, options in completions.items()
    ]
    return summarize_scores(distributed.gather_indexed(scored))


def summarize_scores(scored: Sequence[tuple[bool, int, bool]]) -> EvalResult:
    count = len(scored)
    if count == 0:
        return EvalResult(accuracy=0.0, mean_tokens=0.0, cap_hit_rate=0.0, samples=0)
    return EvalResult(
        accuracy=sum(1 for correct, _, _ in scored if correct) / count,
        mean_tokens=sum(tokens for _, tokens, _ in scored) / count,
        cap_hit_rate=sum(1 for _, _, capped in scored if capped) / count,
        samples=count,
    )


def _completion(tokenizer: PreTrainedTokenizerBase, ids: torch.Tensor, eos_tensor: torch.Tensor) -> Completion:
    is_eos = torch.isin(ids, eos_tensor)
    if bool(is_eos.any()):
        length = int(is_eos.int().argmax()) + 1
        hit_cap = False
    else:
        length = int(ids.shape[0])
        hit_cap = True
    text = tokenizer.decode(ids[:length], skip_special_tokens=True)
    return Completion(text=text, tokens=length, hit_cap=hit_cap)
