"""Greedy-decoding accuracy of a demo model on held-out synthetic problems."""

import re
from dataclasses import dataclass

import torch
from transformers import PreTrainedTokenizerFast, Qwen2ForCausalLM

from trainer.demo.models import encode_prompt

# The number after the last `####` marker, as GSM8K writes final answers (commas allowed).
FINAL_ANSWER = re.compile(r"####\s*(-?[\d,]*\d)")

# Problems decoded together: large enough to keep the CPU busy, small enough that padding to the
# longest prompt of the batch costs little.
EVAL_BATCH_SIZE = 100


@dataclass
class EvalResult:
    """Share of problems solved, and share of completions that contain a `#### N` line."""

    accuracy: float
    format_rate: float
    count: int


def extract_final_answer(text: str) -> int | None:
    """Return N from the last `#### N` in `text`, or None where there is none."""
    matches = FINAL_ANSWER.findall(text)
    if not matches:
        return None
    return int(matches[-1].replace(",", ""))


@torch.no_grad()
def evaluate_accuracy(
    model: Qwen2ForCausalLM,
    tokenizer: PreTrainedTokenizerFast,
    problems: list[dict[str, str]],
    max_new_tokens: int,
) -> EvalResult:
    """Decode each problem greedily and compare its `#### N` with the reference answer's."""
    model.eval()
    solved = 0
    formatted = 0
    for start in range(0, len(problems), EVAL_BATCH_SIZE):
        batch = problems[start : start + EVAL_BATCH_SIZE]
        completions = _generate(model, tokenizer, [p["question"] for p in batch], max_new_tokens)
        for problem, completion in zip(batch, completions):
            predicted = extract_final_answer(completion)
            formatted += predicted is not None
            solved += predicted is not None and predicted == extract_final_answer(problem["answer"])
    count = len(problems)
    return EvalResult(accuracy=solved / max(1, count), format_rate=formatted / max(1, count), count=count)


def _generate(
    model: Qwen2ForCausalLM, tokenizer: PreTrainedTokenizerFast, questions: list[str], max_new_tokens: int
) -> list[str]:
    prompts = [encode_prompt(tokenizer, q) for q in questions]
    length = max(len(p) for p in prompts)
    # Left padding, so that every row's next token is generated at the same position.
    input_ids = torch.full((len(prompts), length), tokenizer.pad_token_id, dtype=torch.long)
    attention_mask = torch.zeros((len(prompts), length), dtype=torch.long)
    for row, ids in enumerate(prompts):
        input_ids[row, length - len(ids) :] = torch.tensor(ids)
        attention_mask[row, length - len(ids) :] = 1

    output = model.generate(
        input_ids=input_ids,
        attention_mask=attention_mask,
        max_new_tokens=max_new_tokens,
        do_sample=False,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    return tokenizer.batch_decode(output[:, length:], skip_special_tokens=True)
