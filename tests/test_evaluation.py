"""The batched greedy evaluator matches a one-prompt-at-a-time loop and counts tokens to the first EOS."""

import pytest
import torch

from trainer import models
from trainer.data import Example
from trainer.evaluation import evaluate, format_prompts, generate, summarize_scores
from trainer.prompts import build_messages

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def student(tiny_pair):
    student_dir, _ = tiny_pair
    tokenizer = models.load_tokenizer(str(student_dir))
    model = models.load_model(str(student_dir), models.Placement("cpu", torch.float32, False))
    return model, tokenizer


def _examples(count):
    return [Example(messages=tuple(build_messages(f"Q{i}: what is {i} " + "and more " * (i % 4), f"#### {i}")),
                    reference=f"#### {i}") for i in range(count)]


def test_batched_equals_single(student):
    model, tokenizer = student
    prompts = format_prompts(tokenizer, _examples(6))
    eos = models.eos_token_ids(tokenizer, model)
    batched = generate(model, tokenizer, prompts, max_new_tokens=10, batch_size=6, eos_ids=eos)
    single = [generate(model, tokenizer, [p], max_new_tokens=10, batch_size=1, eos_ids=eos)[0] for p in prompts]
    assert [batched[i][0].text for i in range(6)] == [c[0].text for c in single]
    assert [batched[i][0].tokens for i in range(6)] == [c[0].tokens for c in single]


def test_tokens_counted_to_first_eos(student):
    model, tokenizer = student
    eos = tokenizer.eos_token_id
    completions = generate(model, tokenizer, format_prompts(tokenizer, _examples(2)), max_new_tokens=7,
                           batch_size=2, eos_ids=[eos])
    for [completion] in completions.values():
        assert 1 <= completion.tokens <= 7
        if completion.hit_cap:
            assert completion.tokens == 7
        else:
            assert completion.tokens <= 7


def test_evaluate_reports_fractions(student):
    model, tokenizer = student
    result = evaluate(model, tokenizer, _examples(4), max_new_tokens=5, batch_size=2,
                      eos_ids=models.eos_token_ids(tokenizer, model))
    assert result.samples == 4
    assert 0.0 <= result.accuracy <= 1.0
    assert 0.0 <= result.cap_hit_rate <= 1.0


def test_summarize_scores():
    result = summarize_scores([(True, 10, False), (False, 30, True)])
    assert result.accuracy == 0.5
    assert result.mean_tokens == 20.0
    assert result.cap_hit_rate == 0.5


def test_shards_cover_all_prompts(student):
    model, tokenizer = student
    prompts = format_prompts(tokenizer, _examples(7))
    eos = models.eos_token_ids(tokenizer, model)
    whole = generate(model, tokenizer, prompts, max_new_tokens=6, batch_size=2, eos_ids=eos)
    parts = [generate(model, tokenizer, prompts, max_new_tokens=6, batch_size=2, eos_ids=eos, shard=(rank, 2))
             for rank in range(2)]
    assert not set(parts[0]) & set(parts[1])
    merged = {**parts[0], **parts[1]}
    assert sorted(merged) == list(range(7))
    assert [merged[i][0].text for i in range(7)] == [whole[i][0].text for i in range(7)]
