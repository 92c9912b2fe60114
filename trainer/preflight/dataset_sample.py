"""A small random sample of the configured dataset's training rows, read without `datasets`."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Mapping

from trainer.preflight import hub
from trainer.prompts import build_messages

SAMPLE_ROWS = 200
# Lines read at most from a JSONL file: enough for a representative sample of a large trace file
# while keeping the check within a second.
MAX_LINES_READ = 50_000
GSM8K_HUB_ID = "openai/gsm8k"


class SampleUnavailable(Exception):
    """The dataset cannot be sampled here, so the length checks are skipped; the message gives the reason."""


@dataclass
class DatasetSample:
    """Prompt turns and reference solutions of sampled rows."""

    source: str
    prompts: list[list[dict[str, str]]] = field(default_factory=list)
    references: list[str] = field(default_factory=list)

    def add(self, prompt: list[dict[str, str]], reference: str) -> None:
        self.prompts.append(prompt)
        self.references.append(reference)


def sample_dataset(config: Mapping[str, Any], rows: int = SAMPLE_ROWS) -> DatasetSample:
    """Sample up to `rows` training rows of `config['dataset_name']`; raise SampleUnavailable."""
    name = config["dataset_name"]
    seed = config["seed"]
    path = Path(name).expanduser()
    if name == "synthetic":
        from trainer.synthetic import generate_problems

        sample = DatasetSample(source=f"synthetic (seed {seed})")
        for problem in generate_problems(seed, rows, "train"):
            sample.add(build_messages(problem["question"]), problem["answer"])
        return sample
    if path.is_dir():
        return _sample_gsm8k_rows(_read_jsonl(path / "train.jsonl", rows, seed), str(path / "train.jsonl"))
    if path.is_file() or name.endswith(".jsonl"):
        return _sample_traces(path, rows, seed)
    if name in ("gsm8k", GSM8K_HUB_ID):
        return _sample_gsm8k_cache(config["dataset_config"], rows, seed)
    raise SampleUnavailable(f"unknown dataset {name!r}")


def _sample_gsm8k_rows(rows: list[Any], source: str) -> DatasetSample:
    sample = DatasetSample(source=source)
    for row in rows:
        if isinstance(row, dict) and isinstance(row.get("question"), str) and isinstance(row.get("answer"), str):
            sample.add(build_messages(row["question"]), row["answer"])
    if not sample.prompts:
        raise SampleUnavailable(f"{source} has no rows with string 'question' and 'answer'")
    return sample


def _sample_traces(path: Path, rows: int, seed: int) -> DatasetSample:
    sample = DatasetSample(source=str(path))
    for row in _read_jsonl(path, rows, seed):
        messages = row.get("messages") if isinstance(row, dict) else None
        if not isinstance(messages, list) or len(messages) < 2 or not all(isinstance(m, dict) for m in messages):
            continue
        last = messages[-1]
        if last.get("role") != "assistant" or not isinstance(last.get("content"), str):
            continue
        prompt = [{"role": str(m.get("role")), "content": str(m.get("content"))} for m in messages[:-1]]
        sample.add(prompt, last["content"])
    if not sample.prompts:
        raise SampleUnavailable(f"{path} has no rows with a 'messages' list ending in an assistant turn")
    return sample


def _sample_gsm8k_cache(dataset_config: str, rows: int, seed: int) -> DatasetSample:
    repo = hub.hub_cache_dir() / ("datasets--" + GSM8K_HUB_ID.replace("/", "--"))
    files = sorted(repo.glob(f"snapshots/*/{dataset_config}/train-*.parquet"))
    if not files:
        raise SampleUnavailable(
            f"{GSM8K_HUB_ID} ({dataset_config}) is not in the local Hugging Face cache ({hub.hub_cache_dir()})"
        )
    import pyarrow.parquet

    table = pyarrow.parquet.read_table(files[0], columns=["question", "answer"])
    records = table.to_pylist()
    picked = random.Random(seed).sample(records, min(rows, len(records)))
    return _sample_gsm8k_rows(picked, str(files[0]))


def _read_jsonl(path: Path, rows: int, seed: int) -> list[Any]:
    if not path.is_file():
        raise SampleUnavailable(f"{path} not found")
    generator = random.Random(seed)
    reservoir: list[Any] = []
    for seen, row in enumerate(_json_lines(path)):
        # Reservoir sampling: every line read so far has the same chance to be in the sample.
        if seen < rows:
            reservoir.append(row)
        else:
            slot = generator.randint(0, seen)
            if slot < rows:
                reservoir[slot] = row
    return reservoir


def _json_lines(path: Path) -> Iterator[Any]:
    with open(path, encoding="utf-8") as stream:
        for number, line in enumerate(stream):
            if number >= MAX_LINES_READ:
                return
            if not line.strip():
                continue
            try:
                yield json.loads(line)
            except json.JSONDecodeError:
                continue  # the trainer reports invalid rows; lengths only need the valid ones
