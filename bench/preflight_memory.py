"""Compare the preflight memory estimate with the measured memory of real GKD steps on CPU.

    python bench/preflight_memory.py [--steps 2] [--max-new-tokens 48] [--skip-demo]

For each model pair, a fresh process loads the pair and runs `--steps` steps of
trl.experimental.gkd.GKDTrainer (lmbda 1.0, batch 2, fp32, use_cpu) and reads its resident set
size from /proc/self/status:

- after importing torch, transformers and trl (the import baseline, about 0.5 GB, which the
  estimate does not cover and every later reading is taken relative to),
- after loading both models and building the trainer (compared with the estimated weights),
- the peak during training, after resetting the peak to the current size through
  /proc/self/clear_refs (compared with the estimated optimizer states plus the largest phase).

Training also allocates memory the estimate does not model (lazy imports, kernels, allocator
state). A micro pair whose estimate is a few MB is measured too, and the differential line
compares the pair minus the micro pair, measured and estimated. MALLOC_MMAP_THRESHOLD_ makes
glibc mmap every allocation over 64 KiB, so freed tensors leave the resident set at once.

The pairs are tiny Qwen2 models built in a temporary folder with a BPE tokenizer made by
`tokenizers` and a ChatML template. The demo models are measured too when they are already built.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from trainer.preflight.dataset_sample import DatasetSample  # noqa: E402
from trainer.preflight.locate import ModelLocation, ModelNotFoundError, demo_model_dir  # noqa: E402
from trainer.preflight.memory import (  # noqa: E402
    LOSS_COPIES_MIXTURE,
    LOSS_COPIES_SINGLE_KL,
    MemoryEstimate,
    ModelShape,
    RunShape,
    estimate_memory,
)
from trainer.preflight.model_files import ModelFacts, read_model  # noqa: E402
from trainer.preflight.token_lengths import measure_lengths  # noqa: E402
from trainer.prompts import build_messages  # noqa: E402
from trainer.synthetic import generate_problems  # noqa: E402

BATCH_SIZE = 2
MIB = 1024**2
CHATML = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)
# name -> (student shape, teacher shape, config vocab_size); vocab_size above the tokenizer's
# size pads the embeddings as Qwen checkpoints do, so logits weigh as much as in a real run.
PAIRS = {
    "bench": (
        {"hidden_size": 256, "num_hidden_layers": 4, "num_attention_heads": 4, "intermediate_size": 1024},
        {"hidden_size": 512, "num_hidden_layers": 4, "num_attention_heads": 8, "intermediate_size": 2048},
        32000,
    ),
    "micro": (
        {"hidden_size": 8, "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 16},
        {"hidden_size": 16, "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 32},
        None,
    ),
}


# --- building the tiny pairs (parent process)


def build_pair(folder: Path, student_size: dict, teacher_size: dict, vocab_size: int | None) -> tuple[Path, Path]:
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import GenerationConfig, PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM

    problems = generate_problems(0, 2000, "train")
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=1000,
        special_tokens=["<|pad|>", "<|im_start|>", "<|im_end|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator([p["question"] + " " + p["answer"] for p in problems], trainer=trainer)
    wrapped = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, eos_token="<|im_end|>", pad_token="<|pad|>", chat_template=CHATML
    )

    dirs = []
    torch.manual_seed(0)
    for role, size in (("student", student_size), ("teacher", teacher_size)):
        config = Qwen2Config(
            vocab_size=vocab_size or len(wrapped),
            num_key_value_heads=size["num_attention_heads"],
            max_position_embeddings=1024,
            tie_word_embeddings=True,
            eos_token_id=wrapped.eos_token_id,
            pad_token_id=wrapped.pad_token_id,
            bos_token_id=None,
            **size,
        )
        model = Qwen2ForCausalLM(config)
        model.generation_config = GenerationConfig(eos_token_id=wrapped.eos_token_id, pad_token_id=wrapped.pad_token_id)
        target = folder / role
        model.save_pretrained(target)
        wrapped.save_pretrained(target)
        dirs.append(target)
    return dirs[0], dirs[1]


# --- measuring (child process)


def memory_status() -> dict[str, int]:
    """Return VmRSS and VmHWM of this process in bytes."""
    values = {}
    with open("/proc/self/status") as stream:
        for line in stream:
            if line.startswith(("VmRSS:", "VmHWM:")):
                key, value = line.split(":")
                values[key] = int(value.split()[0]) * 1024
    return values


def reset_peak() -> bool:
    """Reset VmHWM to the current VmRSS (Linux 4.0 and later); return whether it worked."""
    try:
        with open("/proc/self/clear_refs", "w") as stream:
            stream.write("5")
    except OSError:
        return False
    return True


def release_free_memory() -> None:
    ctypes.CDLL("libc.so.6").malloc_trim(0)


def measure(student_dir: str, teacher_dir: str, steps: int, max_new_tokens: int) -> dict:
    started = memory_status()
    import datasets
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl.experimental.gkd import GKDConfig, GKDTrainer

    torch.set_num_threads(1)
    imported = memory_status()

    tokenizer = AutoTokenizer.from_pretrained(student_dir)
    student = AutoModelForCausalLM.from_pretrained(student_dir, dtype=torch.float32)
    teacher = AutoModelForCausalLM.from_pretrained(teacher_dir, dtype=torch.float32)
    # Loaded weights may stay memory-mapped and count only once read: read them all now, so that
    # they fall in the weights reading and not in the training peak.
    for model in (student, teacher):
        for parameter in model.parameters():
            parameter.detach().sum()
    rows = [{"messages": build_messages(p["question"], p["answer"])} for p in generate_problems(0, steps * BATCH_SIZE, "train")]
    output_dir = tempfile.mkdtemp(prefix="preflight-bench-")
    config = GKDConfig(
        output_dir=output_dir,
        per_device_train_batch_size=BATCH_SIZE,
        gradient_accumulation_steps=1,
        max_steps=steps,
        lmbda=1.0,
        beta=0.5,
        temperature=1.0,
        max_new_tokens=max_new_tokens,
        max_length=512,
        learning_rate=1e-4,
        bf16=False,
        use_cpu=True,
        gradient_checkpointing=False,
        dataloader_pin_memory=False,
        report_to=[],
        save_strategy="no",
        logging_steps=1,
        seed=0,
    )
    trainer = GKDTrainer(
        model=student,
        teacher_model=teacher,
        args=config,
        train_dataset=datasets.Dataset.from_list(rows),
        processing_class=tokenizer,
    )
    release_free_memory()
    ready = memory_status()

    reset_ok = reset_peak()
    reset = memory_status()
    clock = time.perf_counter()
    trainer.train()
    seconds = time.perf_counter() - clock
    trained = memory_status()
    shutil.rmtree(output_dir, ignore_errors=True)
    return {
        "start_rss": started["VmRSS"],
        "imports_rss": imported["VmRSS"],
        "ready_rss": ready["VmRSS"],
        "reset_rss": reset["VmRSS"],
        "train_peak": trained["VmHWM"],
        "peak_reset": reset_ok,
        "seconds": round(seconds, 2),
    }


def probe_loss(batch: int, tokens: int, vocab_size: int) -> dict:
    """Measure the peak of TRL's generalized JSD loss, forward and backward, in logits-sized copies."""
    import torch
    from trl.experimental.gkd import GKDTrainer

    torch.set_num_threads(1)
    unit = batch * tokens * vocab_size * 4
    copies = {}
    for beta in (0.5, 0.0, 1.0):
        student = torch.randn(batch, tokens, vocab_size, requires_grad=True)
        teacher = torch.randn(batch, tokens, vocab_size)
        labels = torch.randint(0, vocab_size, (batch, tokens))
        labels[:, : tokens // 2] = -100
        # One untimed pass first, so one-time allocations do not count.
        GKDTrainer.generalized_jsd_loss(student[:, :-1], teacher[:, :-1], labels=labels[:, 1:], beta=beta).backward()
        student.grad = None
        release_free_memory()
        reset_peak()
        before = memory_status()["VmRSS"]
        GKDTrainer.generalized_jsd_loss(student[:, :-1], teacher[:, :-1], labels=labels[:, 1:], beta=beta).backward()
        copies[str(beta)] = round((memory_status()["VmHWM"] - before) / unit, 1)
    return copies


def run_child(student_dir: Path, teacher_dir: Path, steps: int, max_new_tokens: int) -> dict:
    env = dict(
        os.environ,
        # Every allocation above 64 KiB gets its own mapping, returned to the system when freed.
        MALLOC_MMAP_THRESHOLD_="65536",
        OMP_NUM_THREADS="1",
        HF_HUB_OFFLINE="1",
        CUDA_VISIBLE_DEVICES="",
        TOKENIZERS_PARALLELISM="false",
        TRL_EXPERIMENTAL_SILENCE="1",
    )
    return _child(["--child", json.dumps([str(student_dir), str(teacher_dir), steps, max_new_tokens])], env)


def run_probe(batch: int, tokens: int, vocab_size: int) -> dict:
    env = dict(os.environ, MALLOC_MMAP_THRESHOLD_="65536", OMP_NUM_THREADS="1", TRL_EXPERIMENTAL_SILENCE="1")
    return _child(["--probe", json.dumps([batch, tokens, vocab_size])], env)


def _child(arguments: list[str], env: dict) -> dict:
    result = subprocess.run([sys.executable, __file__, *arguments], env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"child {arguments} failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


# --- estimating and comparing (parent process)


def estimate_for(student_dir: Path, teacher_dir: Path, steps: int, max_new_tokens: int) -> tuple[MemoryEstimate, int]:
    """Estimate with the preflight code, for the longest prompt among the rows trained on."""
    facts = [read_model(ModelLocation(str(path), path), role) for role, path in (("student", student_dir), ("teacher", teacher_dir))]
    sample = DatasetSample(source="synthetic")
    for problem in generate_problems(0, steps * BATCH_SIZE, "train"):
        sample.add(build_messages(problem["question"]), problem["answer"])
    tokenizer = facts[0].tokenizer
    lengths = measure_lengths(
        student_dir / "tokenizer.json", tokenizer.chat_template, {"eos_token": tokenizer.eos_token}, sample
    )
    run = RunShape(
        batch_size=BATCH_SIZE,
        prompt_tokens=lengths.prompt_max,
        max_new_tokens=max_new_tokens,
        optimizer_states="param",
    )
    return estimate_memory(shape_of(facts[0]), shape_of(facts[1]), run), lengths.prompt_max


def shape_of(facts: ModelFacts) -> ModelShape:
    return ModelShape(
        params=facts.param_count,
        layers=facts.num_hidden_layers,
        kv_heads=facts.num_key_value_heads,
        head_dim=facts.head_dim,
        vocab_size=facts.vocab_size,
        hidden_size=facts.hidden_size,
        intermediate_size=facts.intermediate_size,
        dtype="float32",
    )


def training_part(estimate: MemoryEstimate) -> int:
    """Return the estimated memory on top of the loaded weights, which the training peak adds."""
    return estimate.peak_bytes - estimate.phase_bytes("weights")


def report(name: str, estimate: MemoryEstimate, prompt_tokens: int, measured: dict) -> dict:
    weights_measured = measured["ready_rss"] - measured["imports_rss"]
    train_measured = measured["train_peak"] - measured["reset_rss"]
    weights_estimated = estimate.phase_bytes("weights")
    train_estimated = training_part(estimate)
    print(f"\n== {name}: student {estimate.student.params:,} and teacher {estimate.teacher.params:,} parameters, "
          f"vocab_size {estimate.student.vocab_size}, prompt {prompt_tokens} + {estimate.run.max_new_tokens} new tokens")
    print(f"   import baseline (torch, transformers, trl): {measured['imports_rss'] / MIB:8.1f} MiB, not counted")
    for item in estimate.items:
        print(f"   estimate  {item.name:32s} {item.phase:12s} {item.bytes / MIB:8.2f} MiB")
    print(f"   weights   estimated {weights_estimated / MIB:8.1f} MiB, measured {weights_measured / MIB:8.1f} MiB "
          f"(load + trainer construction), error {relative_error(weights_estimated, weights_measured)}")
    print(f"   training  estimated {train_estimated / MIB:8.1f} MiB, measured {train_measured / MIB:8.1f} MiB "
          f"(peak over {measured['seconds']} s), error {relative_error(train_estimated, train_measured)}")
    if not measured["peak_reset"]:
        print("   NOTE: /proc/self/clear_refs was not writable, so the training peak may hide under the loading peak")
    return {"weights": (weights_estimated, weights_measured), "training": (train_estimated, train_measured)}


def relative_error(estimated: int, measured: int) -> str:
    if measured <= 0:
        return "n/a"
    return f"{(estimated - measured) / measured:+.0%}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--max-new-tokens", type=int, default=48)
    parser.add_argument("--skip-demo", action="store_true", help="do not measure the demo models even when built")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--probe", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(*json.loads(args.child))))
        return
    if args.probe:
        print(json.dumps(probe_loss(*json.loads(args.probe))))
        return

    copies = run_probe(BATCH_SIZE, 164, 32000)
    print(f"== JSD loss peak in logits-sized fp32 copies (batch {BATCH_SIZE}, 164 tokens, vocabulary 32000): "
          f"beta 0.5: {copies['0.5']}, beta 0: {copies['0.0']}, beta 1: {copies['1.0']} "
          f"(estimate uses {LOSS_COPIES_MIXTURE} and {LOSS_COPIES_SINGLE_KL})")

    results = {}
    with tempfile.TemporaryDirectory(prefix="preflight-bench-") as folder:
        for name, (student_size, teacher_size, vocab_size) in PAIRS.items():
            student_dir, teacher_dir = build_pair(Path(folder) / name, student_size, teacher_size, vocab_size)
            estimate, prompt_tokens = estimate_for(student_dir, teacher_dir, args.steps, args.max_new_tokens)
            measured = run_child(student_dir, teacher_dir, args.steps, args.max_new_tokens)
            results[name] = report(name, estimate, prompt_tokens, measured)

    pair, micro = results["bench"]["training"], results["micro"]["training"]
    estimated, measured = pair[0] - micro[0], pair[1] - micro[1]
    print(f"\n== differential (bench - micro) training: estimated {estimated / MIB:.1f} MiB, "
          f"measured {measured / MIB:.1f} MiB, error {relative_error(estimated, measured)}")

    if args.skip_demo:
        return
    try:
        demo_dirs = (demo_model_dir("student"), demo_model_dir("teacher"))
    except ModelNotFoundError as error:
        print(f"\n== demo models: skipped ({error})")
        return
    estimate, prompt_tokens = estimate_for(*demo_dirs, args.steps, args.max_new_tokens)
    report("demo", estimate, prompt_tokens, run_child(*demo_dirs, args.steps, args.max_new_tokens))


if __name__ == "__main__":
    main()
