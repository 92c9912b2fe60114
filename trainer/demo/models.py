"""Tiny Qwen2 models for the demo and the supervised fine-tuning that teaches them the task."""

import logging
import math
import random
import time
from dataclasses import dataclass

import torch
from transformers import GenerationConfig, PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM

from trainer.demo.profiles import ModelSize, SftSchedule
from trainer.demo.tokenizer import MODEL_MAX_LENGTH
from trainer.prompts import build_messages

logger = logging.getLogger(__name__)

IGNORE_INDEX = -100


@dataclass
class TrainingExample:
    """One token sequence and its labels, which are IGNORE_INDEX where no loss is taken."""

    input_ids: list[int]
    labels: list[int]


def make_model(size: ModelSize, tokenizer: PreTrainedTokenizerFast) -> Qwen2ForCausalLM:
    """Create a randomly initialised Qwen2 model of `size` for `tokenizer`'s vocabulary.

    The weights come from torch's global generator, so seed it first for a reproducible model.
    """
    config = Qwen2Config(
        vocab_size=len(tokenizer),
        hidden_size=size.hidden_size,
        intermediate_size=size.intermediate_size,
        num_hidden_layers=size.num_hidden_layers,
        num_attention_heads=size.num_attention_heads,
        num_key_value_heads=size.num_attention_heads,
        max_position_embeddings=MODEL_MAX_LENGTH,
        # Tied embeddings halve the parameter count of these vocabulary-heavy small models.
        tie_word_embeddings=True,
        bos_token_id=None,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    model = Qwen2ForCausalLM(config)
    model.generation_config = GenerationConfig(
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        do_sample=False,
    )
    return model


def count_parameters(model: torch.nn.Module) -> int:
    """Count distinct parameters, so a tied embedding counts once."""
    return sum(p.numel() for p in model.parameters())


def encode_examples(tokenizer: PreTrainedTokenizerFast, problems: list[dict[str, str]]) -> list[TrainingExample]:
    """Tokenize problems as chat prompts and solutions ending with eos, with loss on the solution."""
    examples = []
    for problem in problems:
        prompt_ids = encode_prompt(tokenizer, problem["question"])
        completion_ids = tokenizer(problem["answer"].strip(), add_special_tokens=False)["input_ids"]
        completion_ids.append(tokenizer.eos_token_id)
        labels = [IGNORE_INDEX] * len(prompt_ids) + completion_ids
        examples.append(TrainingExample(prompt_ids + completion_ids, labels))
    return examples


def encode_prompt(tokenizer: PreTrainedTokenizerFast, question: str) -> list[int]:
    """Token ids of the chat prompt for `question`, ending with the assistant turn's header."""
    encoded = tokenizer.apply_chat_template(build_messages(question), add_generation_prompt=True, tokenize=True)
    return list(encoded["input_ids"])


def train_sft(
    model: Qwen2ForCausalLM,
    examples: list[TrainingExample],
    schedule: SftSchedule,
    seed: int,
    pad_token_id: int,
    label: str,
    log_every: int,
) -> float:
    """Train `model` on `examples` with the loss on labelled tokens only; return the last loss.

    Batches are drawn without replacement in an order fixed by `seed`, so the same arguments give
    the same weights on the same machine and torch version.
    """
    optimizer = torch.optim.AdamW(model.parameters(), lr=schedule.learning_rate, weight_decay=0.01)
    lr_scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, _warmup_cosine(schedule))
    order_rng = random.Random(seed)
    order: list[int] = []
    model.train()
    started = time.monotonic()
    loss_value = float("nan")

    for step in range(1, schedule.steps + 1):
        if len(order) < schedule.batch_size:
            order = list(range(len(examples)))
            order_rng.shuffle(order)
        batch = [examples[order.pop()] for _ in range(schedule.batch_size)]
        input_ids, attention_mask, labels = _collate(batch, pad_token_id)

        loss = model(input_ids=input_ids, attention_mask=attention_mask, labels=labels).loss
        loss.backward()
        # Clipping guards the high learning rates of the tiny models against rare loss spikes.
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        lr_scheduler.step()
        optimizer.zero_grad(set_to_none=True)

        loss_value = loss.item()
        if step % log_every == 0 or step == schedule.steps:
            logger.info(
                "%s sft step %d/%d loss %.4f elapsed %.0fs",
                label, step, schedule.steps, loss_value, time.monotonic() - started,
            )
    model.eval()
    return loss_value


def _warmup_cosine(schedule: SftSchedule):
    def factor(step: int) -> float:
        if step < schedule.warmup_steps:
            return (step + 1) / schedule.warmup_steps
        progress = (step - schedule.warmup_steps) / max(1, schedule.steps - schedule.warmup_steps)
        return 0.1 + 0.9 * 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))

    return factor


def _collate(batch: list[TrainingExample], pad_token_id: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    length = max(len(e.input_ids) for e in batch)
    input_ids = torch.full((len(batch), length), pad_token_id, dtype=torch.long)
    attention_mask = torch.zeros((len(batch), length), dtype=torch.long)
    labels = torch.full((len(batch), length), IGNORE_INDEX, dtype=torch.long)
    for row, example in enumerate(batch):
        size = len(example.input_ids)
        input_ids[row, :size] = torch.tensor(example.input_ids)
        attention_mask[row, :size] = 1
        labels[row, :size] = torch.tensor(example.labels)
    return input_ids, attention_mask, labels
