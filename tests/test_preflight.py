"""The preflight check on tiny model folders: files, tokenizers, templates, context and the CLI."""

import json
import os
import struct
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from rich.console import Console
from safetensors.numpy import save_file
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

import gears
from trainer.demo.cache import cache_key
from trainer.demo.profiles import RECIPE_VERSION
from trainer.preflight import GpuInfo, check_pair, render_report
from trainer.synthetic import generate_problems

REPO_ROOT = Path(__file__).resolve().parent.parent
CHATML = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)
# Same roles and tokens, different layout: no newline after the role.
OTHER_TEMPLATE = CHATML.replace("'\\n' + message['content']", "': ' + message['content']")
REMOTE_AUTO_MAP = {"AutoModelForCausalLM": "modeling_custom.CustomForCausalLM"}
GPU_80 = GpuInfo.from_gib(80, name="test GPU")


# --- tiny model folders


def train_tokenizer(texts: list[str], vocab_size: int) -> str:
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=["<|pad|>", "<|im_start|>", "<|im_end|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(texts, trainer=trainer)
    return tokenizer.to_str()


@pytest.fixture(scope="module")
def tokenizer_json() -> str:
    problems = generate_problems(0, 300, "train")
    return train_tokenizer([p["question"] + " " + p["answer"] for p in problems], 400)


@pytest.fixture(scope="module")
def other_tokenizer_json() -> str:
    problems = generate_problems(1, 300, "train")
    return train_tokenizer([p["answer"] for p in problems], 360)


def tokenizer_size(tokenizer_json: str) -> int:
    return Tokenizer.from_str(tokenizer_json).get_vocab_size()


def qwen2_tensors(vocab_size: int, hidden: int, layers: int, heads: int, kv_heads: int, intermediate: int) -> dict:
    head_dim = hidden // heads
    tensors = {"model.embed_tokens.weight": np.zeros((vocab_size, hidden), np.float32)}
    for layer in range(layers):
        prefix = f"model.layers.{layer}."
        tensors[prefix + "self_attn.q_proj.weight"] = np.zeros((heads * head_dim, hidden), np.float32)
        tensors[prefix + "self_attn.k_proj.weight"] = np.zeros((kv_heads * head_dim, hidden), np.float32)
        tensors[prefix + "self_attn.v_proj.weight"] = np.zeros((kv_heads * head_dim, hidden), np.float32)
        tensors[prefix + "self_attn.o_proj.weight"] = np.zeros((hidden, heads * head_dim), np.float32)
        tensors[prefix + "mlp.gate_proj.weight"] = np.zeros((intermediate, hidden), np.float32)
        tensors[prefix + "mlp.up_proj.weight"] = np.zeros((intermediate, hidden), np.float32)
        tensors[prefix + "mlp.down_proj.weight"] = np.zeros((hidden, intermediate), np.float32)
        tensors[prefix + "input_layernorm.weight"] = np.zeros((hidden,), np.float32)
        tensors[prefix + "post_attention_layernorm.weight"] = np.zeros((hidden,), np.float32)
    tensors["model.norm.weight"] = np.zeros((hidden,), np.float32)
    return tensors


def make_model(
    folder: Path,
    tokenizer_json: str | None,
    *,
    vocab_size: int | None = None,
    hidden: int = 16,
    layers: int = 2,
    max_positions: int = 512,
    template: str | None = CHATML,
    eos: str | None = "<|im_end|>",
    pad: str | None = "<|pad|>",
    auto_map: dict | None = None,
    model_type: str = "qwen2",
    shards: int = 1,
) -> Path:
    """Write a Qwen2-shaped model folder with zero weights; vocab_size defaults to the tokenizer's size."""
    folder.mkdir(parents=True, exist_ok=True)
    vocab_size = vocab_size or tokenizer_size(tokenizer_json)
    config = {
        "architectures": ["Qwen2ForCausalLM"],
        "model_type": model_type,
        "vocab_size": vocab_size,
        "hidden_size": hidden,
        "intermediate_size": 2 * hidden,
        "num_hidden_layers": layers,
        "num_attention_heads": 2,
        "num_key_value_heads": 1,
        "max_position_embeddings": max_positions,
        "tie_word_embeddings": True,
        "torch_dtype": "float32",
    }
    if auto_map:
        config["auto_map"] = auto_map
    (folder / "config.json").write_text(json.dumps(config))
    if tokenizer_json is not None:
        (folder / "tokenizer.json").write_text(tokenizer_json)
        tokenizer_config = {"eos_token": eos, "pad_token": pad, "model_max_length": max_positions}
        if template is not None:
            tokenizer_config["chat_template"] = template
        (folder / "tokenizer_config.json").write_text(json.dumps(tokenizer_config))

    tensors = qwen2_tensors(vocab_size, hidden, layers, 2, 1, 2 * hidden)
    if shards == 1:
        save_file(tensors, str(folder / "model.safetensors"), metadata={"format": "pt"})
    else:
        names = sorted(tensors)
        weight_map = {}
        for index in range(shards):
            shard = f"model-{index + 1:05d}-of-{shards:05d}.safetensors"
            part = {name: tensors[name] for name in names[index::shards]}
            save_file(part, str(folder / shard), metadata={"format": "pt"})
            weight_map.update({name: shard for name in part})
        (folder / "model.safetensors.index.json").write_text(json.dumps({"metadata": {}, "weight_map": weight_map}))
    return folder


def param_count(folder: Path) -> int:
    config = json.loads((folder / "config.json").read_text())
    hidden, layers = config["hidden_size"], config["num_hidden_layers"]
    tensors = qwen2_tensors(config["vocab_size"], hidden, layers, 2, 1, 2 * hidden)
    return sum(array.size for array in tensors.values())


def config_for(*overrides: str) -> gears.ResolvedConfig:
    return gears.resolve(overrides=["dataset_name=synthetic", *overrides])


def run_check(student: Path, teacher: Path, *overrides: str, gpu: GpuInfo | None = GPU_80):
    return check_pair(str(student), str(teacher), config_for(*overrides), gpu=gpu)


@pytest.fixture
def pair(tmp_path, tokenizer_json):
    """A matching pair: same tokenizer and vocab_size, teacher twice as wide."""
    student = make_model(tmp_path / "student", tokenizer_json, hidden=16)
    teacher = make_model(tmp_path / "teacher", tokenizer_json, hidden=32)
    return student, teacher


# --- a matching pair


def test_matching_pair_passes(pair):
    report = run_check(*pair)
    assert {c.name: c.verdict for c in report.checks if c.verdict != "ok"} == {}
    assert report.exit_code == 0


def test_student_facts(pair, tokenizer_json):
    facts = run_check(*pair).models["student"]
    assert facts.architecture == "Qwen2ForCausalLM"
    assert facts.param_count == param_count(pair[0])
    assert facts.param_source == "safetensors headers"
    assert facts.dtype == "float32"
    assert facts.vocab_size == tokenizer_size(tokenizer_json)
    assert facts.tokenizer.size == tokenizer_size(tokenizer_json)
    assert facts.tokenizer.eos_token == "<|im_end|>"
    assert facts.tokenizer.pad_token == "<|pad|>"
    assert facts.pad_equals_eos is False
    assert facts.has_chat_template
    assert facts.max_position_embeddings == 512
    assert facts.needs_remote_code is False


def test_memory_estimate_reported(pair):
    report = run_check(*pair)
    assert report.memory.peak_bytes > 0
    assert report.check("memory").message.startswith("fits: estimated peak")


def test_lengths_measured(pair):
    lengths = run_check(*pair).lengths
    assert lengths.rows == 200
    assert lengths.templated
    assert 0 < lengths.reference_p95 < lengths.prompt_max


def test_json_round_trip(pair):
    table = json.loads(run_check(*pair).to_json())
    assert table["exit_code"] == 0
    assert table["models"]["teacher"]["param_count"] == param_count(pair[1])
    assert {check["name"] for check in table["checks"]} >= {"vocabulary", "chat template", "memory"}
    assert table["memory"]["peak_bytes"] > 0


def test_rich_table(pair):
    console = Console(record=True, width=140)
    render_report(run_check(*pair), console)
    text = console.export_text()
    assert "Qwen2ForCausalLM" in text
    assert "vocabulary" in text
    assert "Memory estimate per GPU" in text


# --- vocabulary


def test_padded_vocab_warns(tmp_path, tokenizer_json):
    size = tokenizer_size(tokenizer_json)
    student = make_model(tmp_path / "student", tokenizer_json, vocab_size=size + 16)
    teacher = make_model(tmp_path / "teacher", tokenizer_json, vocab_size=size + 48, hidden=32)
    check = run_check(student, teacher).check("vocabulary")
    assert check.verdict == "warning"
    assert f"student {size + 16:,}, teacher {size + 48:,}" in check.message
    assert "slices the teacher's logits" in check.message


def test_padded_vocab_exit_code(tmp_path, tokenizer_json):
    size = tokenizer_size(tokenizer_json)
    student = make_model(tmp_path / "student", tokenizer_json, vocab_size=size + 16)
    teacher = make_model(tmp_path / "teacher", tokenizer_json, vocab_size=size + 48, hidden=32)
    assert run_check(student, teacher).exit_code == 1


def test_narrower_teacher_vocab_errors(tmp_path, tokenizer_json):
    size = tokenizer_size(tokenizer_json)
    student = make_model(tmp_path / "student", tokenizer_json, vocab_size=size + 48)
    teacher = make_model(tmp_path / "teacher", tokenizer_json, vocab_size=size + 16, hidden=32)
    check = run_check(student, teacher).check("vocabulary")
    assert check.verdict == "error"
    assert f"teacher's vocab_size {size + 16:,} is below the student's {size + 48:,}" in check.message


def test_different_tokenizers_error(tmp_path, tokenizer_json, other_tokenizer_json):
    student = make_model(tmp_path / "student", tokenizer_json)
    teacher = make_model(tmp_path / "teacher", other_tokenizer_json, hidden=32)
    report = run_check(student, teacher)
    check = report.check("vocabulary")
    assert check.verdict == "error"
    assert check.message.startswith("different tokenizers")
    assert report.models["student"].tokenizer.fingerprint in check.message
    assert "same tokenizer" in check.message
    assert report.exit_code == 2


def test_same_size_different_merges_error(tmp_path, tokenizer_json):
    table = json.loads(tokenizer_json)
    table["model"]["merges"] = table["model"]["merges"][::-1]
    student = make_model(tmp_path / "student", tokenizer_json)
    teacher = make_model(tmp_path / "teacher", json.dumps(table), hidden=32)
    assert run_check(student, teacher).check("vocabulary").verdict == "error"


def test_tokenizer_beyond_vocab_errors(tmp_path, tokenizer_json):
    size = tokenizer_size(tokenizer_json)
    student = make_model(tmp_path / "student", tokenizer_json, vocab_size=size - 8)
    teacher = make_model(tmp_path / "teacher", tokenizer_json, vocab_size=size - 8, hidden=32)
    check = run_check(student, teacher).check("vocabulary")
    assert check.verdict == "error"
    assert f"the tokenizer has {size:,} tokens but student vocab_size is {size - 8:,}" in check.message


# --- chat template and special tokens


def test_templateless_student_errors(tmp_path, tokenizer_json):
    student = make_model(tmp_path / "student", tokenizer_json, template=None)
    teacher = make_model(tmp_path / "teacher", tokenizer_json, hidden=32)
    report = run_check(student, teacher)
    check = report.check("chat template")
    assert check.verdict == "error"
    assert f"the student has no chat template" in check.message
    assert str(student) in check.message
    assert "Instruct" in check.message
    assert report.models["student"].has_chat_template is False


def test_templateless_teacher_warns(tmp_path, tokenizer_json):
    student = make_model(tmp_path / "student", tokenizer_json)
    teacher = make_model(tmp_path / "teacher", tokenizer_json, hidden=32, template=None)
    check = run_check(student, teacher).check("chat template")
    assert check.verdict == "warning"
    assert check.message.startswith("the teacher has no chat template")


def test_different_template_warns(tmp_path, tokenizer_json):
    student = make_model(tmp_path / "student", tokenizer_json)
    teacher = make_model(tmp_path / "teacher", tokenizer_json, hidden=32, template=OTHER_TEMPLATE)
    check = run_check(student, teacher).check("chat template")
    assert check.verdict == "warning"
    assert "formats the same conversation differently" in check.message
    assert "first difference at character 18: student '\\nSolve" in check.message
    assert "teacher ': Solve" in check.message


def test_template_file_wins(tmp_path, tokenizer_json):
    student = make_model(tmp_path / "student", tokenizer_json, template=None)
    (student / "chat_template.jinja").write_text(CHATML)
    teacher = make_model(tmp_path / "teacher", tokenizer_json, hidden=32)
    report = run_check(student, teacher)
    assert report.models["student"].tokenizer.chat_template_source == "chat_template.jinja"
    assert report.check("chat template").verdict == "ok"


def test_generation_block_renders(tmp_path, tokenizer_json):
    template = CHATML.replace(
        "{{ '<|im_start|>' + message['role']",
        "{% if message['role'] == 'assistant' %}{{ '<|im_start|>assistant\\n' }}{% generation %}"
        "{{ message['content'] + '<|im_end|>\\n' }}{% endgeneration %}{% else %}{{ '<|im_start|>' + message['role']",
    ).replace("{% endfor %}", "{% endif %}{% endfor %}")
    student = make_model(tmp_path / "student", tokenizer_json, template=template)
    teacher = make_model(tmp_path / "teacher", tokenizer_json, hidden=32)
    assert run_check(student, teacher).check("chat template").verdict == "ok"


def test_pad_equals_eos(tmp_path, tokenizer_json):
    student = make_model(tmp_path / "student", tokenizer_json, pad="<|im_end|>")
    teacher = make_model(tmp_path / "teacher", tokenizer_json, hidden=32)
    report = run_check(student, teacher)
    check = report.check("special tokens")
    assert report.models["student"].pad_equals_eos is True
    assert check.verdict == "ok"
    assert "pad_token equals eos_token" in check.message
    assert "masks padding by attention mask" in check.message


def test_missing_pad_falls_back(tmp_path, tokenizer_json):
    student = make_model(tmp_path / "student", tokenizer_json, pad=None)
    teacher = make_model(tmp_path / "teacher", tokenizer_json, hidden=32)
    check = run_check(student, teacher).check("special tokens")
    assert check.verdict == "ok"
    assert "no pad_token, so the trainer pads with eos" in check.message


def test_missing_eos_errors(tmp_path, tokenizer_json):
    student = make_model(tmp_path / "student", tokenizer_json, eos=None)
    teacher = make_model(tmp_path / "teacher", tokenizer_json, hidden=32)
    check = run_check(student, teacher).check("special tokens")
    assert check.verdict == "error"
    assert "student tokenizer has no eos_token" in check.message


def test_unknown_eos_errors(tmp_path, tokenizer_json):
    student = make_model(tmp_path / "student", tokenizer_json, eos="<|endoftext|>")
    teacher = make_model(tmp_path / "teacher", tokenizer_json, hidden=32)
    check = run_check(student, teacher).check("special tokens")
    assert check.verdict == "error"
    assert "eos_token '<|endoftext|>' is not in the tokenizer's vocabulary" in check.message


# --- files and weights


def test_corrupt_config_errors(pair):
    student, teacher = pair
    (student / "config.json").write_text('{"model_type": "qwen2",')
    check = run_check(student, teacher).check("student files")
    assert check.verdict == "error"
    assert f"{student / 'config.json'} is not valid JSON" in check.message


def test_missing_config_errors(pair):
    student, teacher = pair
    (teacher / "config.json").unlink()
    check = run_check(student, teacher).check("teacher files")
    assert check.verdict == "error"
    assert f"{teacher / 'config.json'} not found" in check.message


def test_missing_tokenizer_errors(tmp_path, tokenizer_json):
    student = make_model(tmp_path / "student", tokenizer_json)
    teacher = make_model(tmp_path / "teacher", None, vocab_size=tokenizer_size(tokenizer_json), hidden=32)
    report = run_check(student, teacher)
    check = report.check("teacher files")
    assert check.verdict == "error"
    assert f"no tokenizer files in {teacher}" in check.message
    assert report.check("vocabulary").verdict == "unchecked"
    assert report.exit_code == 2


def test_missing_directory_errors(tmp_path, pair):
    missing = tmp_path / "nowhere"
    check = run_check(missing, pair[1]).check("student files")
    assert check.verdict == "error"
    assert f"student directory not found: {missing}" in check.message


def test_sharded_checkpoint_counts(tmp_path, tokenizer_json):
    student = make_model(tmp_path / "student", tokenizer_json)
    teacher = make_model(tmp_path / "teacher", tokenizer_json, hidden=32, shards=3)
    facts = run_check(student, teacher).models["teacher"]
    assert facts.param_count == param_count(teacher)


def test_missing_shard_errors(tmp_path, tokenizer_json):
    student = make_model(tmp_path / "student", tokenizer_json)
    teacher = make_model(tmp_path / "teacher", tokenizer_json, hidden=32, shards=3)
    (teacher / "model-00002-of-00003.safetensors").unlink()
    check = run_check(student, teacher).check("teacher weights")
    assert check.verdict == "error"
    assert "model-00002-of-00003.safetensors is missing" in check.message


def test_truncated_weights_error(pair):
    student, teacher = pair
    weights = student / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-100])
    check = run_check(student, teacher).check("student weights")
    assert check.verdict == "error"
    assert "is truncated or corrupt" in check.message


def test_bad_header_length_errors(pair):
    student, teacher = pair
    (student / "model.safetensors").write_bytes(struct.pack("<Q", 10**12) + b"{}")
    check = run_check(student, teacher).check("student weights")
    assert check.verdict == "error"
    assert "invalid safetensors header length" in check.message


def test_no_weights_error(pair):
    student, teacher = pair
    (student / "model.safetensors").unlink()
    check = run_check(student, teacher).check("student weights")
    assert check.verdict == "error"
    assert f"no weight files in {student}" in check.message


def test_pickle_weights_warn(pair):
    student, teacher = pair
    (student / "model.safetensors").unlink()
    (student / "pytorch_model.bin").write_bytes(b"not read")
    report = run_check(student, teacher)
    assert report.check("student weights").verdict == "warning"
    assert report.models["student"].param_source == "estimated from config.json"


def test_config_estimate_matches_count(pair):
    student, teacher = pair
    exact = run_check(student, teacher).models["student"].param_count
    (student / "model.safetensors").unlink()
    (student / "pytorch_model.bin").write_bytes(b"not read")
    assert run_check(student, teacher).models["student"].param_count == exact


def test_bf16_header_dtype(pair):
    student, teacher = pair
    header = json.dumps({"w": {"dtype": "BF16", "shape": [4, 8], "data_offsets": [0, 64]}}).encode()
    (student / "model.safetensors").write_bytes(struct.pack("<Q", len(header)) + header + bytes(64))
    facts = run_check(student, teacher).models["student"]
    assert facts.dtype == "bfloat16"
    assert facts.param_count == 32


# --- remote code and sizes


def test_remote_code_blocked(tmp_path, tokenizer_json):
    student = make_model(tmp_path / "student", tokenizer_json)
    teacher = make_model(tmp_path / "teacher", tokenizer_json, hidden=32, auto_map=REMOTE_AUTO_MAP, model_type="custom")
    report = run_check(student, teacher)
    check = report.check("teacher remote code")
    assert report.models["teacher"].needs_remote_code is True
    assert check.verdict == "error"
    assert "trust_remote_code is false" in check.message
    assert "modeling_custom.CustomForCausalLM" in check.message


def test_remote_code_allowed(tmp_path, tokenizer_json):
    student = make_model(tmp_path / "student", tokenizer_json)
    teacher = make_model(tmp_path / "teacher", tokenizer_json, hidden=32, auto_map=REMOTE_AUTO_MAP, model_type="custom")
    check = run_check(student, teacher, "trust_remote_code=true").check("teacher remote code")
    assert check.verdict == "ok"
    assert "allowed by trust_remote_code=true" in check.message


def test_native_type_needs_no_remote_code(tmp_path, tokenizer_json):
    student = make_model(tmp_path / "student", tokenizer_json)
    teacher = make_model(tmp_path / "teacher", tokenizer_json, hidden=32, auto_map=REMOTE_AUTO_MAP)
    report = run_check(student, teacher)
    assert report.models["teacher"].needs_remote_code is False
    assert report.check("teacher remote code").verdict == "ok"
    assert "supports model_type 'qwen2'" in report.check("teacher remote code").message


def test_native_lookup_imports_nothing():
    code = (
        "import sys; from trainer.preflight.model_files import natively_supported; "
        "assert natively_supported('qwen2'); assert not natively_supported('custom'); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'transformers')))"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_smaller_teacher_warns(tmp_path, tokenizer_json):
    student = make_model(tmp_path / "student", tokenizer_json, hidden=32)
    teacher = make_model(tmp_path / "teacher", tokenizer_json, hidden=16)
    check = run_check(student, teacher).check("sizes")
    assert check.verdict == "warning"
    assert check.message.startswith("the teacher is not larger than the student")


# --- context and rollout length


def test_context_overflow_errors(tmp_path, tokenizer_json):
    student = make_model(tmp_path / "student", tokenizer_json, max_positions=300)
    teacher = make_model(tmp_path / "teacher", tokenizer_json, hidden=32)
    report = run_check(student, teacher, "max_new_tokens=256")
    check = report.check("context")
    p95 = report.lengths.prompt_p95
    assert check.verdict == "error"
    assert f"p95 prompt {p95} tokens + max_new_tokens 256 = {p95 + 256}" in check.message
    assert "student's max_position_embeddings 300" in check.message
    assert f"lower max_new_tokens to {300 - p95} or less" in check.message


def test_teacher_context_counts(tmp_path, tokenizer_json):
    student = make_model(tmp_path / "student", tokenizer_json)
    teacher = make_model(tmp_path / "teacher", tokenizer_json, hidden=32, max_positions=300)
    check = run_check(student, teacher, "max_new_tokens=256").check("context")
    assert check.verdict == "error"
    assert "teacher's max_position_embeddings 300" in check.message


def test_prompt_above_max_length_warns(pair):
    check = run_check(*pair, "max_length=64", "max_new_tokens=64").check("context")
    assert check.verdict == "warning"
    assert "above max_length 64" in check.message


def test_short_rollouts_warn(pair):
    report = run_check(*pair, "max_new_tokens=8")
    check = report.check("rollout length")
    assert check.verdict == "warning"
    assert f"raise max_new_tokens to {report.lengths.reference_p95} or more" in check.message


def test_gsm8k_folder_lengths(pair, gsm8k_dir):
    report = run_check(*pair, f"dataset_name={gsm8k_dir}")
    assert report.lengths.rows == 200
    assert report.lengths.source == str(gsm8k_dir / "train.jsonl")


def test_trace_file_lengths(tmp_path, pair):
    trace = tmp_path / "traces.jsonl"
    rows = [
        {"messages": [{"role": "user", "content": f"What is {i} + 1?"}, {"role": "assistant", "content": f"#### {i + 1}"}], "reward": 1.0}
        for i in range(5)
    ]
    trace.write_text("\n".join(json.dumps(row) for row in rows) + "\n")
    report = run_check(*pair, f"dataset_name={trace}")
    assert report.lengths.rows == 5
    assert report.check("context").verdict == "ok"


def test_uncached_gsm8k_unchecked(pair):
    report = check_pair(str(pair[0]), str(pair[1]), gears.resolve(), gpu=GPU_80)
    check = report.check("context")
    assert check.verdict == "unchecked"
    assert "openai/gsm8k (main) is not in the local Hugging Face cache" in check.message


# --- model references


def test_hub_cache_id_resolves(tmp_path, monkeypatch, tokenizer_json):
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    repo = tmp_path / "hf" / "hub" / "models--acme--tiny-student"
    make_model(repo / "snapshots" / "abc123", tokenizer_json)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("abc123")
    teacher = make_model(tmp_path / "teacher", tokenizer_json, hidden=32)
    report = check_pair("acme/tiny-student", str(teacher), config_for(), gpu=GPU_80)
    assert report.models["student"].path == str(repo / "snapshots" / "abc123")
    assert report.exit_code == 0


def test_uncached_id_offline_errors(tmp_path, monkeypatch, pair):
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    check = check_pair("acme/absent", str(pair[1]), config_for(), gpu=GPU_80).check("student files")
    assert check.verdict == "error"
    assert "'acme/absent' is not a local directory and not in the Hugging Face cache" in check.message
    assert "hf download acme/absent" in check.message


def test_unreachable_hub_errors(tmp_path, pair):
    # A closed local port plays the unreachable Hub. HF_ENDPOINT is read at import, so a fresh process runs it.
    env = dict(os.environ, HF_HUB_OFFLINE="0", HF_ENDPOINT="http://127.0.0.1:9", HF_HOME=str(tmp_path / "hf"))
    result = subprocess.run(
        [sys.executable, "-m", "trainer.preflight.cli", "--student", "acme/absent", "--teacher", str(pair[1]), "--json"],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=60,
    )
    check = next(c for c in json.loads(result.stdout)["checks"] if c["name"] == "student files")
    assert result.returncode == 2
    assert "fetching it from the Hub failed" in check["message"]


def test_demo_not_built(tmp_path, monkeypatch, pair):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    check = check_pair("demo", str(pair[1]), config_for(), gpu=GPU_80).check("student files")
    assert check.verdict == "error"
    assert "demo models not built yet; run `atlas-train demo build`" in check.message


def test_demo_unfinished_build(tmp_path, monkeypatch, tokenizer_json):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    build = tmp_path / "cache" / "atlas-console" / "demo" / cache_key("full", 0, RECIPE_VERSION)
    make_model(build / "student", tokenizer_json)
    make_model(build / "teacher", tokenizer_json, hidden=32)
    check = check_pair("demo", "demo", config_for(), gpu=GPU_80).check("student files")
    assert check.verdict == "error"
    assert f"no complete build in {build}" in check.message


def test_demo_cache_found(tmp_path, monkeypatch, tokenizer_json):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    build = tmp_path / "cache" / "atlas-console" / "demo" / cache_key("full", 0, RECIPE_VERSION)
    make_model(build / "student", tokenizer_json)
    make_model(build / "teacher", tokenizer_json, hidden=32)
    (build / "manifest.json").write_text(json.dumps({"profile": "full", "seed": 0}))
    report = check_pair("demo", "demo", config_for(), gpu=GPU_80)
    assert report.models["teacher"].path == str(build / "teacher")
    assert report.exit_code == 0


# --- command line


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "trainer.preflight.cli", *args],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=60,
    )


def test_cli_exit_ok(pair):
    result = run_cli("--student", str(pair[0]), "--teacher", str(pair[1]))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ready to launch (exit 0)" in result.stdout


def test_cli_exit_warnings(tmp_path, tokenizer_json):
    size = tokenizer_size(tokenizer_json)
    student = make_model(tmp_path / "student", tokenizer_json, vocab_size=size + 16)
    teacher = make_model(tmp_path / "teacher", tokenizer_json, vocab_size=size + 48, hidden=32)
    assert run_cli("--student", str(student), "--teacher", str(teacher)).returncode == 1


def test_cli_exit_errors(tmp_path, tokenizer_json, other_tokenizer_json):
    student = make_model(tmp_path / "student", tokenizer_json)
    teacher = make_model(tmp_path / "teacher", other_tokenizer_json, hidden=32)
    result = run_cli("--student", str(student), "--teacher", str(teacher))
    assert result.returncode == 2
    assert "blocked: fix the errors first" in result.stdout


def test_cli_json(pair):
    result = run_cli("--student", str(pair[0]), "--teacher", str(pair[1]), "--json", "--gpu-memory-gib", "0.001")
    table = json.loads(result.stdout)
    assert result.returncode == 2
    assert table["exit_code"] == 2
    assert table["gpu"]["total_bytes"] == int(0.001 * 1024**3)
    assert next(c for c in table["checks"] if c["name"] == "memory")["verdict"] == "error"


def test_cli_invalid_override(pair):
    result = run_cli("--student", str(pair[0]), "--teacher", str(pair[1]), "max_new_tokenz=5")
    assert result.returncode == 2
    assert "unknown config key 'max_new_tokenz'" in result.stderr


def test_cli_imports_no_torch(pair):
    code = (
        "import sys; from trainer.preflight.cli import main; "
        f"code = main(['--student', {str(pair[0])!r}, '--teacher', {str(pair[1])!r}, '--json']); "
        "leaked = sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'transformers', 'trl')); "
        "print('LEAKED', leaked, file=sys.stderr); sys.exit(code)"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "LEAKED []" in result.stderr


def test_cli_answers_fast(pair):
    started = time.perf_counter()
    result = run_cli("--student", str(pair[0]), "--teacher", str(pair[1]), "--json")
    elapsed = time.perf_counter() - started
    assert result.returncode == 0
    assert elapsed < 2.0


def test_cached_gsm8k_lengths(tmp_path, monkeypatch, pair):
    import pyarrow
    import pyarrow.parquet

    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    folder = tmp_path / "hf" / "hub" / "datasets--openai--gsm8k" / "snapshots" / "abc" / "main"
    folder.mkdir(parents=True)
    rows = generate_problems(0, 30, "train")
    table = pyarrow.table({"question": [r["question"] for r in rows], "answer": [r["answer"] for r in rows]})
    pyarrow.parquet.write_table(table, folder / "train-00000-of-00001.parquet")
    report = check_pair(str(pair[0]), str(pair[1]), gears.resolve(), gpu=GPU_80)
    assert report.lengths.rows == 30
    assert report.check("context").verdict == "ok"


def test_missing_teacher_template_unchecked(tmp_path, pair):
    check = run_check(pair[0], tmp_path / "nowhere").check("chat template")
    assert check.verdict == "unchecked"
    assert "the teacher has no tokenizer files to compare" in check.message


def test_train_rejects_missing_model_dir(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "trainer.cli", "--gear", "diagnostic", "--demo", "--runs-dir", str(tmp_path / "runs"),
         "--student", str(tmp_path / "no-such-model")],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 2
    assert f"student directory not found: {tmp_path / 'no-such-model'}" in result.stderr
    assert not (tmp_path / "runs").exists()
