"""Seconds per optimizer step: atlas-console's trainer against stock TRL GKDTrainer.

Both train the same tiny models on the same prompts with the same settings and seed; runs
alternate between the two so that background load affects both alike. The table gives wall-clock
and process CPU seconds per step; CPU time is the steadier of the two on a shared machine.
Goal: ratio ≤ 1.05.

    python bench/step_time.py [--steps 20] [--repeats 3] [--threads 1]
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
os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

import torch  # noqa: E402
from datasets import Dataset  # noqa: E402
from transformers import AutoModelForCausalLM  # noqa: E402
from trl.experimental.gkd import GKDConfig, GKDTrainer  # noqa: E402

from state.metrics import MetricsWriter  # noqa: E402
from tiny_models import build_pair  # noqa: E402
from trainer import models  # noqa: E402
from trainer.callbacks import MetricsCallback, StopCallback, StopSignal  # noqa: E402
from trainer.gkd import AtlasGKDTrainer  # noqa: E402


def _rows(count: int) -> list[dict]:
    return [
        {"messages": [{"role": "user", "content": f"Tom has {i} apples and buys {i + 3} more. How many now?"},
                      {"role": "assistant", "content": f"{i} + {i + 3} = {2 * i + 3}\n#### {2 * i + 3}"}]}
        for i in range(count)
    ]


def _args(folder: Path, steps: int) -> GKDConfig:
    return GKDConfig(
        output_dir=str(folder), max_steps=steps, per_device_train_batch_size=2, gradient_accumulation_steps=2,
        learning_rate=1e-4, lmbda=1.0, beta=0.5, temperature=0.9, max_new_tokens=32, use_cpu=True, bf16=False,
        gradient_checkpointing=False, dataloader_pin_memory=False, report_to=[], save_strategy="no",
        logging_steps=1, disable_tqdm=True, seed=0, logging_nan_inf_filter=False,
    )


def time_stock(student_dir: Path, teacher_dir: Path, folder: Path, steps: int) -> tuple[float, float]:
    tokenizer = models.load_tokenizer(str(student_dir))
    student = AutoModelForCausalLM.from_pretrained(student_dir)
    teacher = AutoModelForCausalLM.from_pretrained(teacher_dir)
    trainer = GKDTrainer(model=student, teacher_model=teacher, args=_args(folder, steps),
                         train_dataset=Dataset.from_list(_rows(64)), processing_class=tokenizer)
    return _measure(trainer, steps)


def _measure(trainer, steps: int) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    trainer.train()
    return (time.perf_counter() - wall) / steps, (time.process_time() - cpu) / steps


def time_atlas(student_dir: Path, teacher_dir: Path, folder: Path, steps: int) -> tuple[float, float]:
    placement = models.Placement("cpu", torch.float32, False)
    tokenizer = models.load_tokenizer(str(student_dir))
    student = models.load_model(str(student_dir), placement)
    teacher = models.load_model(str(teacher_dir), placement)
    writer = MetricsWriter(folder / "metrics.jsonl")
    callbacks = [
        MetricsCallback(writer, lambda: {}, stop_after_nonfinite=1, on_total_steps=lambda total: None),
        StopCallback(StopSignal()),
    ]
    trainer = AtlasGKDTrainer(model=student, teacher_model=teacher, args=_args(folder, steps),
                              train_dataset=Dataset.from_list(_rows(64)), processing_class=tokenizer,
                              callbacks=callbacks, eos_ids=models.eos_token_ids(tokenizer, student))
    measured = _measure(trainer, steps)
    writer.close()
    return measured


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (1 = least sensitive to load)")
    options = parser.parse_args()
    torch.set_num_threads(options.threads)
    with tempfile.TemporaryDirectory() as temp:
        root = Path(temp)
        student_dir, teacher_dir = build_pair(root / "models")
        time_stock(student_dir, teacher_dir, root / "warmup", 2)  # first-use costs out of the measurement
        stock, atlas = [], []
        for repeat in range(options.repeats):
            stock.append(time_stock(student_dir, teacher_dir, root / f"stock-{repeat}", options.steps))
            atlas.append(time_atlas(student_dir, teacher_dir, root / f"atlas-{repeat}", options.steps))
    print(f"| trainer | wall s/step (median) | CPU s/step (median) | wall, all runs |")
    print("|---|---|---|---|")
    for name, runs in (("stock TRL GKDTrainer", stock), ("atlas-console", atlas)):
        walls = [wall for wall, _ in runs]
        cpus = [cpu for _, cpu in runs]
        print(f"| {name} | {statistics.median(walls):.4f} | {statistics.median(cpus):.4f} | "
              f"{', '.join(f'{value:.4f}' for value in walls)} |")
    for index, label in ((0, "wall"), (1, "CPU")):
        ratio = statistics.median(run[index] for run in atlas) / statistics.median(run[index] for run in stock)
        print(f"\nratio atlas / stock, {label} time = {ratio:.3f} (goal ≤ 1.05)")
    print(f"\n{options.repeats} runs × {options.steps} optimizer steps each, torch threads {options.threads}")


if __name__ == "__main__":
    main()
