"""min_reward filtering by teacher pass rate, and its on-disk cache."""

import pytest

from gears import resolve
from trainer.data import DataError, Example
from trainer.prompts import build_messages
from trainer.rewards import cache_file, filter_by_reward, read_cache


def _examples(count):
    return [Example(messages=tuple(build_messages(f"What is {i} + 1?", f"#### {i + 1}")), reference=f"#### {i + 1}")
            for i in range(count)]


class CountingPassRate:
    """Pass rates from a fixed table, counting how many prompts were scored."""

    def __init__(self, rates):
        self.rates = rates
        self.scored = 0

    def __call__(self, examples):
        self.scored += len(examples)
        return [self.rates[int(e.reference.split()[-1]) - 1] for e in examples]


def _config(**overrides):
    return resolve("diagnostic", overrides=[f"{k}={v}" for k, v in overrides.items()]).values


def test_filter_keeps_reaching_min_reward(tmp_path):
    scorer = CountingPassRate([0.9, 0.8, 0.7, 1.0])
    result = filter_by_reward(_examples(4), _config(min_reward=0.8), teacher_pass_rate=scorer, cache_path=None)
    assert [e.reference for e in result.kept] == ["#### 1", "#### 2", "#### 4"]
    assert result.filtered == 1


def test_gears_thresholds_differ(tmp_path):
    rates = [0.8, 0.9, 1.0, 0.8]
    diagnostic = filter_by_reward(_examples(4), _config(min_reward=0.8), teacher_pass_rate=CountingPassRate(rates), cache_path=None)
    reliability = filter_by_reward(_examples(4), _config(min_reward=0.9), teacher_pass_rate=CountingPassRate(rates), cache_path=None)
    assert len(diagnostic.kept) == 4
    assert len(reliability.kept) == 2


def test_cache_reused(tmp_path):
    path = tmp_path / "rewards.jsonl"
    config = _config(min_reward=0.5)
    first = CountingPassRate([1.0, 0.0, 1.0])
    filter_by_reward(_examples(3), config, teacher_pass_rate=first, cache_path=path)
    assert first.scored == 3
    again = CountingPassRate([1.0, 0.0, 1.0, 1.0, 1.0])
    result = filter_by_reward(_examples(5), config, teacher_pass_rate=again, cache_path=path)
    assert again.scored == 2
    assert result.cache_hits == 3
    assert len(read_cache(path)) == 5


def test_cache_tolerates_cut_line(tmp_path):
    path = tmp_path / "rewards.jsonl"
    filter_by_reward(_examples(2), _config(min_reward=0.5), teacher_pass_rate=CountingPassRate([1.0, 1.0]), cache_path=path)
    with open(path, "a") as stream:
        stream.write('{"key": "abc", "rew')
    assert len(read_cache(path)) == 2


def test_cache_key_covers_settings():
    base = cache_file("teacher-a", "data-1", _config())
    assert cache_file("teacher-b", "data-1", _config()) != base
    assert cache_file("teacher-a", "data-2", _config()) != base
    assert cache_file("teacher-a", "data-1", _config(reward_samples=4)) != base
    assert cache_file("teacher-a", "data-1", _config(reward_temperature=1.0)) != base
    # The gears differ in min_reward and rollout settings but share the reward cache.
    assert cache_file("teacher-a", "data-1", resolve("reliability").values) == base


def test_zero_kept_is_error():
    scorer = CountingPassRate([0.1, 0.2])
    with pytest.raises(DataError, match="min_reward 0.9 kept 0 of 2 training prompts"):
        filter_by_reward(_examples(2), _config(min_reward=0.9), teacher_pass_rate=scorer, cache_path=None)


def test_trace_rewards_used_as_stored():
    examples = [Example(messages=e.messages, reference=e.reference, reward=r) for e, r in zip(_examples(3), (0.2, 0.95, 0.9))]
    result = filter_by_reward(examples, _config(min_reward=0.9), teacher_pass_rate=None, cache_path=None)
    assert len(result.kept) == 2
    assert result.source == "stored trace rewards"


@pytest.mark.slow
def test_real_teacher_pass_rate(tiny_pair):
    import torch

    from trainer import models
    from trainer.rewards import make_teacher_pass_rate

    _, teacher_dir = tiny_pair
    tokenizer = models.load_tokenizer(str(teacher_dir))
    teacher = models.load_model(str(teacher_dir), models.Placement("cpu", torch.float32, False))
    config = _config(reward_samples=3, reward_max_new_tokens=4, reward_batch_size=2)
    rates = make_teacher_pass_rate(teacher, tokenizer, [tokenizer.eos_token_id], config)(_examples(3))
    assert len(rates) == 3
    for rate in rates:
        assert rate in (0.0, 1 / 3, 2 / 3, 1.0)
