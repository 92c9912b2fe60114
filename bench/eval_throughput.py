"""Evaluation throughput: the batched greedy evaluator against a one-prompt-at-a-time loop.

Same model, same prompts, same max_new_tokens; goal: ≥ 4× faster at batch 16.

    python bench/eval_throughput.py [--prompts 64] [--max-new-tokens 64] [--repeats 3] [--model DIR]

Each repeat times both evaluators back to back; the table reports the medians.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

import torch  # noqa: E402

from tiny_models import build_pair  # noqa: E402
from trainer import models  # noqa: E402
from trainer.data import Example  # noqa: E402
from trainer.evaluation import format_prompts, generate  # noqa: E402
from trainer.prompts import build_messages  # noqa: E402
from trainer.synthetic import generate_problems  # noqa: E402


def one_at_a_time(model, tokenizer, prompts, max_new_tokens, eos_ids) -> int:
    """The plain loop a script would write: encode, generate greedily, decode, one prompt at a time."""
    tokens = 0
    for prompt in prompts:
        encoded = tokenizer(prompt, return_tensors="pt", add_special_tokens=False)
        with torch.inference_mode():
            output = model.generate(**encoded, max_new_tokens=max_new_tokens, do_sample=False,
                                    eos_token_id=eos_ids, pad_token_id=tokenizer.pad_token_id)
        tokens += output.shape[1] - encoded["input_ids"].shape[1]
    return tokens


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=64)
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (1 = least sensitive to load)")
    parser.add_argument("--model", help="model directory (default: a tiny random Qwen2 model)")
    options = parser.parse_args()
    torch.set_num_threads(options.threads)
    with tempfile.TemporaryDirectory() as temp:
        model_dir = options.model or str(build_pair(Path(temp) / "models")[0])
        tokenizer = models.load_tokenizer(model_dir)
        model = models.load_model(model_dir, models.Placement("cpu", torch.float32, False))
        problems = generate_problems(0, options.prompts, "test")
        examples = [Example(messages=tuple(build_messages(p["question"], p["answer"])), reference=p["answer"])
                    for p in problems]
        prompts = format_prompts(tokenizer, examples)
        eos_ids = models.eos_token_ids(tokenizer, model)
        generate(model, tokenizer, prompts[:2], max_new_tokens=4, batch_size=2, eos_ids=eos_ids)  # warm-up

        singles, batches = [], []
        for _ in range(options.repeats):
            started = time.perf_counter()
            one_at_a_time(model, tokenizer, prompts, options.max_new_tokens, eos_ids)
            singles.append(time.perf_counter() - started)

            started = time.perf_counter()
            generate(model, tokenizer, prompts, max_new_tokens=options.max_new_tokens,
                     batch_size=options.batch_size, eos_ids=eos_ids)
            batches.append(time.perf_counter() - started)
        single_seconds, batched_seconds = statistics.median(singles), statistics.median(batches)
    print(f"| evaluator | prompts | seconds | prompts/s |")
    print("|---|---|---|---|")
    print(f"| one prompt at a time | {options.prompts} | {single_seconds:.2f} | {options.prompts / single_seconds:.1f} |")
    print(f"| batched, batch {options.batch_size} | {options.prompts} | {batched_seconds:.2f} | {options.prompts / batched_seconds:.1f} |")
    print(f"\nspeed-up {single_seconds / batched_seconds:.1f}× (goal ≥ 4×); medians of {options.repeats} repeats, "
          f"max_new_tokens {options.max_new_tokens}, torch threads {options.threads}")


if __name__ == "__main__":
    main()
