"""Specification of the demo model build, on the seconds-long `mini` profile."""

import json

import pytest

from trainer.demo import build_main, ensure_demo_models
from trainer.demo.profiles import RECIPE_VERSION, get_profile
from trainer.prompts import build_messages

pytestmark = pytest.mark.slow

MANIFEST_FIELDS = {
    "seed",
    "profile",
    "recipe_version",
    "vocab_size",
    "teacher_parameters",
    "student_parameters",
    "teacher_accuracy",
    "student_accuracy",
    "teacher_format_rate",
    "student_format_rate",
    "eval_problems",
    "train_problems",
    "build_seconds",
    "versions",
    "created",
}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    cache_dir = tmp_path_factory.mktemp("demo-cache")
    return ensure_demo_models(seed=0, profile="mini", cache_dir=cache_dir), cache_dir


def test_first_call_builds(built):
    demo, _ = built
    assert demo.built is True


def test_layout_under_cache_dir(built):
    demo, cache_dir = built
    build_dir = cache_dir / f"mini-seed0-recipe{RECIPE_VERSION}"
    assert demo.teacher_dir == build_dir / "teacher"
    assert demo.student_dir == build_dir / "student"
    assert (build_dir / "manifest.json").is_file()


def test_manifest_fields(built):
    demo, _ = built
    assert set(demo.manifest) == MANIFEST_FIELDS


def test_manifest_matches_file(built):
    demo, _ = built
    on_disk = json.loads((demo.teacher_dir.parent / "manifest.json").read_text())
    assert on_disk == demo.manifest


def test_manifest_values(built):
    demo, _ = built
    manifest = demo.manifest
    assert manifest["seed"] == 0
    assert manifest["profile"] == "mini"
    assert manifest["eval_problems"] == get_profile("mini").eval_problems
    assert 0.0 <= manifest["teacher_accuracy"] <= 1.0
    assert 0.0 <= manifest["student_accuracy"] <= 1.0
    assert manifest["build_seconds"] > 0
    assert "torch" in manifest["versions"]


def test_student_smaller_than_teacher(built):
    demo, _ = built
    assert demo.manifest["student_parameters"] < demo.manifest["teacher_parameters"]


@pytest.mark.parametrize("role", ["teacher", "student"])
def test_model_loads_offline(built, role):
    from transformers import AutoModelForCausalLM

    demo, _ = built
    model = AutoModelForCausalLM.from_pretrained(getattr(demo, f"{role}_dir"))
    assert model.config.model_type == "qwen2"
    assert model.num_parameters() == demo.manifest[f"{role}_parameters"]


@pytest.mark.parametrize("role", ["teacher", "student"])
def test_tokenizer_special_tokens(built, role):
    from transformers import AutoTokenizer

    demo, _ = built
    tokenizer = AutoTokenizer.from_pretrained(getattr(demo, f"{role}_dir"))
    assert tokenizer.eos_token == "<|im_end|>"
    assert tokenizer.pad_token_id is not None
    assert tokenizer.pad_token_id != tokenizer.eos_token_id
    assert len(tokenizer) == demo.manifest["vocab_size"]


def test_chat_template_renders_prompt(built):
    from transformers import AutoTokenizer

    demo, _ = built
    tokenizer = AutoTokenizer.from_pretrained(demo.student_dir)
    assert tokenizer.chat_template is not None
    text = tokenizer.apply_chat_template(build_messages("What is 2 + 3?"), tokenize=False, add_generation_prompt=True)
    assert text.endswith("<|im_start|>assistant\n")
    assert "<|im_start|>user\nWhat is 2 + 3?<|im_end|>" in text


def test_chat_template_ends_turn_with_eos(built):
    from transformers import AutoTokenizer

    demo, _ = built
    tokenizer = AutoTokenizer.from_pretrained(demo.student_dir)
    text = tokenizer.apply_chat_template(build_messages("Q", "5\n#### 5"), tokenize=False)
    assert text.endswith("#### 5" + tokenizer.eos_token + "\n")


def test_digits_one_per_token(built):
    from transformers import AutoTokenizer

    demo, _ = built
    tokenizer = AutoTokenizer.from_pretrained(demo.student_dir)
    tokens = tokenizer.tokenize("#### 123")
    assert tokens[-3:] == ["1", "2", "3"]


def test_loaded_tokenizer_splits_as_trained(built):
    from tokenizers import Tokenizer
    from transformers import AutoTokenizer

    from trainer.synthetic import generate_problems

    demo, _ = built
    trained = Tokenizer.from_file(str(demo.student_dir / "tokenizer.json"))
    loaded = AutoTokenizer.from_pretrained(demo.student_dir)
    texts = [p["question"] + "\n" + p["answer"] for p in generate_problems(0, 20, "test")]
    texts.append("It costs $1,234.50 – or 12% more.\n\n#### 1234")
    for text in texts:
        expected = trained.encode(text, add_special_tokens=False).ids
        assert loaded(text, add_special_tokens=False)["input_ids"] == expected, text


def test_tokenizers_identical(built):
    demo, _ = built
    teacher = (demo.teacher_dir / "tokenizer.json").read_bytes()
    student = (demo.student_dir / "tokenizer.json").read_bytes()
    assert teacher == student


@pytest.mark.parametrize("role", ["teacher", "student"])
def test_generation_config_ids(built, role):
    from transformers import AutoTokenizer, GenerationConfig

    demo, _ = built
    model_dir = getattr(demo, f"{role}_dir")
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    generation = GenerationConfig.from_pretrained(model_dir)
    assert generation.eos_token_id == tokenizer.eos_token_id
    assert generation.pad_token_id == tokenizer.pad_token_id


def test_model_generates(built):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    demo, _ = built
    tokenizer = AutoTokenizer.from_pretrained(demo.student_dir)
    model = AutoModelForCausalLM.from_pretrained(demo.student_dir)
    prompt = tokenizer.apply_chat_template(
        build_messages("Tom has 3 apples. He buys 4 more apples. How many apples does Tom have now?"),
        add_generation_prompt=True,
        return_tensors="pt",
        return_dict=True,
    )
    with torch.no_grad():
        output = model.generate(**prompt, max_new_tokens=4, do_sample=False)
    assert output.shape[1] > prompt["input_ids"].shape[1]


def test_second_call_reuses_cache(built):
    demo, cache_dir = built
    files = sorted(p for p in demo.teacher_dir.parent.rglob("*") if p.is_file())
    before = {p: p.stat().st_mtime_ns for p in files}
    again = ensure_demo_models(seed=0, profile="mini", cache_dir=cache_dir)
    assert again.built is False
    assert again.manifest == demo.manifest
    assert {p: p.stat().st_mtime_ns for p in files} == before


def test_missing_manifest_rebuilds(tmp_path):
    first = ensure_demo_models(seed=1, profile="mini", cache_dir=tmp_path)
    (first.teacher_dir.parent / "manifest.json").unlink()
    again = ensure_demo_models(seed=1, profile="mini", cache_dir=tmp_path)
    assert again.built is True


def test_corrupt_manifest_rebuilds(tmp_path):
    first = ensure_demo_models(seed=4, profile="mini", cache_dir=tmp_path)
    (first.teacher_dir.parent / "manifest.json").write_text("{")
    again = ensure_demo_models(seed=4, profile="mini", cache_dir=tmp_path)
    assert again.built is True


def test_same_seed_same_weights(tmp_path):
    first = ensure_demo_models(seed=2, profile="mini", cache_dir=tmp_path / "a")
    second = ensure_demo_models(seed=2, profile="mini", cache_dir=tmp_path / "b")
    for role in ("teacher_dir", "student_dir"):
        weights = (getattr(first, role) / "model.safetensors").read_bytes()
        assert weights == (getattr(second, role) / "model.safetensors").read_bytes()


def test_force_rebuilds(tmp_path):
    ensure_demo_models(seed=3, profile="mini", cache_dir=tmp_path)
    again = ensure_demo_models(seed=3, profile="mini", cache_dir=tmp_path, force=True)
    assert again.built is True


def test_unknown_profile_raises(tmp_path):
    with pytest.raises(ValueError, match="huge"):
        ensure_demo_models(profile="huge", cache_dir=tmp_path)


def test_cli_prints_paths(built, capsys):
    demo, cache_dir = built
    code = build_main(["--profile", "mini", "--seed", "0", "--cache-dir", str(cache_dir)])
    output = capsys.readouterr().out
    assert code == 0
    assert str(demo.teacher_dir) in output
    assert str(demo.student_dir) in output
    assert "reused" in output


def test_default_cache_dir_uses_xdg(monkeypatch, tmp_path):
    from trainer.demo.cache import default_cache_root

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert default_cache_root() == tmp_path / "atlas-console" / "demo"
