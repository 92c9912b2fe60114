"""Read a dataset named by the config: GSM8K (hub or local folder), runtime traces or synthetic."""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Any, Iterable, Mapping

from trainer.answers import parse_reference
from trainer.data.examples import DataError, Example, TaskData
from trainer.prompts import build_messages

logger = logging.getLogger(__name__)

GSM8K_HUB_ID = "openai/gsm8k"


def load_task(config: Mapping[str, Any]) -> TaskData:
    """Load, validate and limit the dataset that `config['dataset_name']` names."""
    name = config["dataset_name"]
    path = Path(name).expanduser()
    if name == "synthetic":
        task = _load_synthetic(config)
    elif path.is_dir():
        task = _load_gsm8k_folder(path, config)
    elif path.is_file() or name.endswith(".jsonl"):
        task = _load_traces(path, config)
    elif name in ("gsm8k", GSM8K_HUB_ID):
        task = _load_gsm8k_hub(config)
    else:
        raise DataError(
            f"unknown dataset {name!r}: use 'gsm8k', 'synthetic', a folder holding train.jsonl and "
            "test.jsonl in GSM8K format, or a runtime-trace .jsonl file"
        )
    _apply_limits(task, config)
    if not task.train:
        raise DataError(f"dataset {task.source} has no usable training rows")
    if not task.eval:
        raise DataError(f"dataset {task.source} has no usable evaluation rows")
    return task


# --- GSM8K


def _load_gsm8k_hub(config: Mapping[str, Any]) -> TaskData:
    import datasets

    try:
        splits = datasets.load_dataset(GSM8K_HUB_ID, config["dataset_config"])
    except Exception as error:  # the hub raises many types (offline, not found, HTTP)
        raise DataError(
            f"cannot load {GSM8K_HUB_ID} ({config['dataset_config']}) from the Hugging Face Hub: {error}. "
            "Offline, pass a folder holding train.jsonl and test.jsonl as --dataset-name, or use "
            "--dataset-name synthetic"
        ) from error
    return _gsm8k_task(f"{GSM8K_HUB_ID}:{config['dataset_config']}", splits["train"], splits["test"], config,
                       splits["train"]._fingerprint + splits["test"]._fingerprint)


def _load_gsm8k_folder(folder: Path, config: Mapping[str, Any]) -> TaskData:
    import datasets

    files = {split: folder / f"{split}.jsonl" for split in ("train", "test")}
    for split, file in files.items():
        if not file.is_file():
            raise DataError(f"GSM8K folder {folder} has no {split}.jsonl; it needs train.jsonl and test.jsonl")
    try:
        splits = datasets.load_dataset("json", data_files={split: str(file) for split, file in files.items()})
    except Exception as error:  # datasets wraps JSON errors in several types
        raise DataError(f"cannot read GSM8K files in {folder}: {error}") from error
    fingerprint = _files_fingerprint(files.values())
    return _gsm8k_task(str(folder), splits["train"], splits["test"], config, fingerprint)


def _gsm8k_task(source: str, train_rows: Iterable, test_rows: Iterable, config: Mapping[str, Any], fingerprint: str) -> TaskData:
    task = TaskData(source=source, train=[], eval=[], fingerprint=fingerprint)
    cap = config["dataset_max_samples"] or None
    read = 0
    for split, rows, target in (("train", train_rows, task.train), ("test", test_rows, task.eval)):
        for index, row in enumerate(rows):
            if cap is not None and read >= cap:
                break
            read += 1
            example = _gsm8k_example(row, f"{source} {split} row {index}", task, config)
            if example is not None:
                target.append(example)
    return task


def _gsm8k_example(row: Mapping[str, Any], where: str, task: TaskData, config: Mapping[str, Any]) -> Example | None:
    question, answer = row.get("question"), row.get("answer")
    if not isinstance(question, str) or not question.strip():
        return _invalid(where, "missing question", task, config)
    if not isinstance(answer, str):
        return _invalid(where, "missing answer", task, config)
    try:
        parse_reference(answer)
    except ValueError:
        return _invalid(where, "answer has no parsable '#### N' final answer", task, config)
    return Example(messages=tuple(build_messages(question, answer)), reference=answer)


# --- runtime traces


def _load_traces(path: Path, config: Mapping[str, Any]) -> TaskData:
    """Read a runtime-trace file: each line has `messages` ending with the assistant turn and `reward`."""
    if not path.is_file():
        raise DataError(f"trace file not found: {path}")
    task = TaskData(source=str(path), train=[], eval=[], fingerprint=_files_fingerprint([path]))
    cap = config["dataset_max_samples"] or None
    examples: list[Example] = []
    with open(path, encoding="utf-8") as stream:
        for index, line in enumerate(stream):
            if cap is not None and len(examples) >= cap:
                break
            if not line.strip():
                continue
            where = f"{path} line {index + 1}"
            try:
                row = json.loads(line)
            except json.JSONDecodeError as error:
                _invalid(where, f"invalid JSON ({error.msg})", task, config)
                continue
            example = _trace_example(row, where, task, config)
            if example is not None:
                examples.append(example)
    # Traces come as one file: hold out a deterministic slice for evaluation.
    held_out = max(1, len(examples) // 10) if len(examples) > 1 else 0
    task.eval = examples[len(examples) - held_out :] if held_out else []
    task.train = examples[: len(examples) - held_out]
    return task


def _trace_example(row: Any, where: str, task: TaskData, config: Mapping[str, Any]) -> Example | None:
    if not isinstance(row, dict):
        return _invalid(where, "a line must be a JSON object", task, config)
    messages = row.get("messages")
    if not isinstance(messages, list) or not messages:
        return _invalid(where, "missing 'messages' list", task, config)
    for message in messages:
        if not isinstance(message, dict) or not isinstance(message.get("role"), str) or not isinstance(message.get("content"), str):
            return _invalid(where, "each message needs string 'role' and 'content'", task, config)
    if messages[-1]["role"] != "assistant":
        return _invalid(where, "no final assistant turn", task, config)
    if len(messages) < 2:
        return _invalid(where, "no prompt turn before the assistant turn", task, config)
    reward = row.get("reward")
    if isinstance(reward, bool) or not isinstance(reward, (int, float)) or not 0.0 <= reward <= 1.0:
        return _invalid(where, f"reward must be a number in [0, 1], got {reward!r}", task, config)
    reference = messages[-1]["content"]
    try:
        parse_reference(reference)
    except ValueError:
        return _invalid(where, "assistant turn has no parsable final answer", task, config)
    clean = tuple({"role": m["role"], "content": m["content"]} for m in messages)
    return Example(messages=clean, reference=reference, reward=float(reward))


# --- synthetic


def _load_synthetic(config: Mapping[str, Any]) -> TaskData:
    from trainer.synthetic import generate_problems

    seed = config["seed"]
    train = generate_problems(seed, config["synthetic_train_size"], "train")
    test = generate_problems(seed, config["synthetic_test_size"], "test")
    task = TaskData(source=f"synthetic (seed {seed})", train=[], eval=[], fingerprint="")
    for rows, target in ((train, task.train), (test, task.eval)):
        for row in rows:
            target.append(Example(messages=tuple(build_messages(row["question"], row["answer"])), reference=row["answer"]))
    digest = hashlib.sha256()
    for example in task.train + task.eval:
        digest.update(example.key.encode())
    task.fingerprint = digest.hexdigest()[:16]
    return task


# --- shared


def _invalid(where: str, rule: str, task: TaskData, config: Mapping[str, Any]) -> None:
    if config["invalid_rows"] == "reject":
        raise DataError(f"{where}: {rule}. Fix the row, or pass invalid_rows=skip to skip and count such rows")
    task.skipped_rows += 1
    task.skipped_reasons[rule] = task.skipped_reasons.get(rule, 0) + 1
    return None


def _apply_limits(task: TaskData, config: Mapping[str, Any]) -> None:
    if config["train_limit"]:
        task.train = task.train[: config["train_limit"]]
    if config["eval_limit"]:
        task.eval = task.eval[: config["eval_limit"]]


def _files_fingerprint(files: Iterable[Path]) -> str:
    digest = hashlib.sha256()
    for file in files:
        with open(file, "rb") as stream:
            for block in iter(lambda: stream.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()[:16]
