"""Dataset loading and row validation: GSM8K folders, runtime traces, synthetic problems."""

import json

import pytest

from gears import resolve
from trainer.data import DataError, load_task


def _config(dataset, **overrides):
    values = [f"{key}={value}" for key, value in overrides.items()]
    return resolve("diagnostic", overrides=values, flags={"dataset_name": str(dataset)}).values


def _write_gsm8k(folder, train_rows, test_rows):
    folder.mkdir(parents=True, exist_ok=True)
    for name, rows in (("train", train_rows), ("test", test_rows)):
        (folder / f"{name}.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    return folder


GOOD = {"question": "Ann has 2 pens and buys 3. How many?", "answer": "2 + 3 = 5\n#### 5"}


def test_real_gsm8k_splits(gsm8k_dir):
    task = load_task(_config(gsm8k_dir))
    assert len(task.train) == 7473
    assert len(task.eval) == 1319
    assert task.train[0].messages[-1]["role"] == "assistant"
    assert task.train[0].messages[0]["role"] == "system"


def test_real_gsm8k_limits(gsm8k_dir):
    task = load_task(_config(gsm8k_dir, train_limit=64, eval_limit=10))
    assert len(task.train) == 64
    assert len(task.eval) == 10


def test_max_samples_reads_train_first(gsm8k_dir):
    task = load_task(_config(gsm8k_dir, dataset_max_samples=7480))
    assert len(task.train) == 7473
    assert len(task.eval) == 7


def test_bad_answer_rejected_with_index(tmp_path):
    folder = _write_gsm8k(tmp_path / "d", [GOOD, {"question": "Q?", "answer": "no final answer"}], [GOOD])
    with pytest.raises(DataError) as error:
        load_task(_config(folder))
    assert "train row 1: answer has no parsable '#### N' final answer" in str(error.value)
    assert "invalid_rows=skip" in str(error.value)


def test_bad_rows_skipped_and_counted(tmp_path):
    folder = _write_gsm8k(tmp_path / "d", [GOOD, {"question": "Q?", "answer": "none"}, {"answer": "#### 3"}], [GOOD])
    task = load_task(_config(folder, invalid_rows="skip"))
    assert len(task.train) == 1
    assert task.skipped_rows == 2
    assert task.skipped_reasons == {"answer has no parsable '#### N' final answer": 1, "missing question": 1}


def test_missing_split_file(tmp_path):
    folder = tmp_path / "d"
    folder.mkdir()
    (folder / "train.jsonl").write_text(json.dumps(GOOD) + "\n")
    with pytest.raises(DataError, match="has no test.jsonl"):
        load_task(_config(folder))


def test_unknown_dataset_name():
    with pytest.raises(DataError, match="unknown dataset 'mnist'"):
        load_task(_config("mnist"))


def _trace(content, reward=1.0, last_role="assistant"):
    return {"messages": [{"role": "user", "content": "What is 2 + 2?"}, {"role": last_role, "content": content}],
            "reward": reward}


def test_traces_load_with_rewards(tmp_path):
    path = tmp_path / "traces.jsonl"
    path.write_text("".join(json.dumps(_trace(f"2 + 2 = 4\n#### 4", reward=i / 10)) + "\n" for i in range(10)))
    task = load_task(_config(path))
    assert len(task.train) == 9
    assert len(task.eval) == 1
    assert task.train[3].reward == 0.3


@pytest.mark.parametrize("row, rule", [
    (_trace("#### 4", last_role="user"), "line 1: no final assistant turn"),
    (_trace("#### 4", reward=1.5), "line 1: reward must be a number in [0, 1], got 1.5"),
    (_trace("I do not know"), "line 1: assistant turn has no parsable final answer"),
    ({"reward": 1.0}, "line 1: missing 'messages' list"),
])
def test_trace_rules(tmp_path, row, rule):
    path = tmp_path / "traces.jsonl"
    path.write_text(json.dumps(row) + "\n" + json.dumps(_trace("#### 4")) + "\n")
    with pytest.raises(DataError) as error:
        load_task(_config(path))
    assert rule in str(error.value)


def test_synthetic_disjoint_splits():
    task = load_task(_config("synthetic", synthetic_train_size=200, synthetic_test_size=50))
    assert len(task.train) == 200
    assert len(task.eval) == 50
    assert not {e.key for e in task.train} & {e.key for e in task.eval}
