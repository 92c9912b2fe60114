"""min_reward filtering: a prompt's reward is the teacher's pass rate over sampled solutions.

GSM8K and synthetic prompts have no stored reward, so before training the teacher samples
`reward_samples` solutions per prompt and the share graded correct is the prompt's reward. The
rewards are cached on disk per prompt, in a file keyed by teacher, dataset and sampling settings,
so a later run (the reliability gear after the diagnostic one) reuses them.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from trainer import distributed
from trainer.answers import is_correct
from trainer.data import DataError, Example
from trainer.evaluation import format_prompts, generate

logger = logging.getLogger(__name__)

# Prompts scored between two appends to the cache file, so a killed run loses little work.
CACHE_FLUSH_PROMPTS = 64


@dataclass
class FilterResult:
    kept: list[Example]
    filtered: int
    rewards: list[float]
    source: str
    cache_path: Path | None = None
    cache_hits: int = 0


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "atlas-console" / "rewards"


def cache_file(teacher_identity: str, dataset_fingerprint: str, config: Mapping[str, Any]) -> Path:
    settings = {
        "teacher": teacher_identity,
        "dataset": dataset_fingerprint,
        "reward_samples": config["reward_samples"],
        "reward_temperature": config["reward_temperature"],
        "reward_max_new_tokens": config["reward_max_new_tokens"],
        "seed": config["seed"],
    }
    key = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:24]
    return cache_dir() / f"{key}.jsonl"


def read_cache(path: Path) -> dict[str, float]:
    rewards: dict[str, float] = {}
    try:
        with open(path, encoding="utf-8") as stream:
            for line in stream:
                try:
                    entry = json.loads(line)
                    rewards[entry["key"]] = float(entry["reward"])
                except (json.JSONDecodeError, KeyError, TypeError, ValueError):
                    continue  # a line cut short by a killed writer
    except FileNotFoundError:
        pass
    return rewards


def filter_by_reward(
    examples: Sequence[Example],
    config: Mapping[str, Any],
    *,
    teacher_pass_rate: Callable[[list[Example]], list[float]] | None,
    cache_path: Path | None,
) -> FilterResult:
    """Keep the examples whose reward reaches `min_reward`; raise DataError when none is kept."""
    min_reward = config["min_reward"]
    if all(example.reward is not None for example in examples):
        rewards = [float(example.reward) for example in examples]
        result = FilterResult(kept=[], filtered=0, rewards=rewards, source="stored trace rewards")
    elif min_reward <= 0.0:
        return FilterResult(kept=list(examples), filtered=0, rewards=[], source="not computed (min_reward is 0)")
    else:
        cached = read_cache(cache_path) if cache_path else {}
        missing = [example for example in examples if example.key not in cached]
        if missing:
            if teacher_pass_rate is None:
                raise DataError("rewards are missing and no teacher is available to compute them")
            logger.info("teacher pass rate: scoring %d prompts (%d cached)", len(missing), len(examples) - len(missing))
            for start in range(0, len(missing), CACHE_FLUSH_PROMPTS):
                chunk = missing[start : start + CACHE_FLUSH_PROMPTS]
                scores = teacher_pass_rate(chunk)
                for example, score in zip(chunk, scores):
                    cached[example.key] = score
                if cache_path and distributed.rank() == 0:
                    _append_cache(cache_path, chunk, scores)
        rewards = [cached[example.key] for example in examples]
        result = FilterResult(
            kept=[],
            filtered=0,
            rewards=rewards,
            source=f"teacher pass rate over {config['reward_samples']} samples",
            cache_path=cache_path,
            cache_hits=len(examples) - len(missing),
        )
    result.kept = [example for example, reward in zip(examples, rewards) if reward >= min_reward]
    result.filtered = len(examples) - len(result.kept)
    if not result.kept:
        raise DataError(
            f"min_reward {min_reward} kept 0 of {len(examples)} training prompts (rewards: {result.source}); "
            "lower min_reward, use a stronger teacher, or raise reward_samples"
        )
    return result


def make_teacher_pass_rate(model, tokenizer, eos_ids: Sequence[int], config: Mapping[str, Any], should_stop=None):
    """Return a function scoring prompts by the teacher's pass rate over sampled solutions."""

    def pass_rate(examples: list[Example]) -> list[float]:
        completions = generate(
            model,
            tokenizer,
            format_prompts(tokenizer, examples),
            max_new_tokens=config["reward_max_new_tokens"],
            batch_size=config["reward_batch_size"],
            eos_ids=eos_ids,
            temperature=config["reward_temperature"],
            num_return_sequences=config["reward_samples"],
            should_stop=should_stop,
            shard=(distributed.rank(), distributed.world_size()),
        )
        scored = [
            (index, sum(is_correct(option.text, examples[index].reference) for option in options) / len(options))
            for index, options in completions.items()
        ]
        return distributed.gather_indexed(scored)

    return pass_rate


def _append_cache(path: Path, examples: Sequence[Example], scores: Sequence[float]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as stream:
        for example, score in zip(examples, scores):
            stream.write(json.dumps({"key": example.key, "reward": score}) + "\n")
        stream.flush()
        os.fsync(stream.fileno())
