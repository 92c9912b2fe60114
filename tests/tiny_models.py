"""Build tiny Qwen2-architecture models and a chat tokenizer on disk, offline, in about a second."""

from __future__ import annotations

import json
from pathlib import Path

CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
_CORPUS = [
    "Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in May.",
    "How many clips did Natalia sell altogether in April and May? 48 / 2 = 24 and 48 + 24 = 72 #### 72",
    "Weng earns $12 an hour for babysitting. Yesterday, she just did 50 minutes of babysitting.",
    "Solve the math word problem step by step. End your reply with a final line of the form '#### <number>'.",
] + [f"{a} + {b} = {a + b}. {a} * {b} = {a * b}. #### {a - b}" for a in range(30) for b in range(0, 30, 7)]


def build_tokenizer(folder: Path, pad_equals_eos: bool = False, chat_template: bool = True):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|pad|>"]
    tokenizer = Tokenizer(models.BPE(unk_token=None))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=300, special_tokens=specials, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    tokenizer.train_from_iterator(_CORPUS, trainer=trainer)
    wrapped = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        eos_token="<|im_end|>",
        pad_token="<|im_end|>" if pad_equals_eos else "<|pad|>",
        bos_token=None,
    )
    if chat_template:
        wrapped.chat_template = CHAT_TEMPLATE
    wrapped.save_pretrained(folder)
    return wrapped


def build_model(folder: Path, tokenizer, hidden: int = 32, layers: int = 2, vocab_size: int | None = None,
                seed: int = 0, generation: dict | None = None):
    import torch
    from transformers import GenerationConfig, Qwen2Config, Qwen2ForCausalLM

    torch.manual_seed(seed)
    config = Qwen2Config(
        vocab_size=vocab_size or len(tokenizer),
        hidden_size=hidden,
        intermediate_size=hidden * 2,
        num_hidden_layers=layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=1024,
        tie_word_embeddings=True,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=None,
    )
    model = Qwen2ForCausalLM(config)
    model.generation_config = GenerationConfig(
        eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id, **(generation or {})
    )
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return model


def build_pair(root: Path, pad_equals_eos: bool = False, student_generation: dict | None = None) -> tuple[Path, Path]:
    """Write a student and a (larger) teacher sharing one tokenizer under `root`."""
    student_dir, teacher_dir = root / "student", root / "teacher"
    tokenizer = build_tokenizer(student_dir, pad_equals_eos=pad_equals_eos)
    build_model(student_dir, tokenizer, hidden=32, layers=1, seed=1, generation=student_generation)
    build_model(teacher_dir, tokenizer, hidden=48, layers=2, seed=2)
    return student_dir, teacher_dir


def write_gsm8k_folder(folder: Path, train: int = 16, test: int = 8) -> Path:
    """Write a small GSM8K-format folder (train.jsonl, test.jsonl) of generated problems."""
    folder.mkdir(parents=True, exist_ok=True)
    for split, count, offset in (("train", train, 0), ("test", test, 1000)):
        with open(folder / f"{split}.jsonl", "w") as stream:
            for index in range(count):
                a, b = offset + index, index + 3
                row = {"question": f"Tom has {a} apples and buys {b} more. How many now?",
                       "answer": f"{a} + {b} = {a + b}\n#### {a + b}"}
                stream.write(json.dumps(row) + "\n")
    return folder
