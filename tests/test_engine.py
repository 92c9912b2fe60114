"""atlas-train end to end on tiny real models: the run directory, stop and resume, divergence."""

import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import run_atlas_train
from state.metrics import read_metrics
from state.paths import RunPaths, last_checkpoint
from state.record import read_record
from state.summary import read_summary

pytestmark = pytest.mark.slow


def _models(tiny_pair):
    student, teacher = tiny_pair
    return ["--student", student, "--teacher", teacher]


@pytest.fixture(scope="module")
def finished_run(tiny_pair, gsm8k_dir, tmp_path_factory):
    """A six-step diagnostic run on the real GSM8K files, evaluated every three steps."""
    root = tmp_path_factory.mktemp("engine")
    result = run_atlas_train(
        ["--gear", "diagnostic", *_models(tiny_pair), "--dataset-name", gsm8k_dir, "--runs-dir", root / "runs",
         "--run-id", "diag", "max_steps=6", "eval_steps=3", "eval_sample_size=8", "reward_samples=2",
         "train_limit=16", "min_reward=0.0", "max_new_tokens=12", "save_steps=3"],
        cwd=root,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    (root / "stdout.txt").write_text(result.stdout)
    return RunPaths(root / "runs" / "diag")


def test_run_finishes(finished_run):
    record = read_record(finished_run)
    assert record.status == "finished"
    assert record.exit_code == 0
    assert record.total_steps == 6


def test_train_line_per_step(finished_run):
    train = [e for e in read_metrics(finished_run.metrics) if e["kind"] == "train"]
    assert [e["step"] for e in train] == [1, 2, 3, 4, 5, 6]
    for event in train:
        assert math.isfinite(event["loss"])
        assert math.isfinite(event["grad_norm"])
        assert "learning_rate" in event


def test_eval_lines(finished_run):
    events = read_metrics(finished_run.metrics)
    assert [e["step"] for e in events if e["kind"] == "eval"] == [3, 6]
    for kind in ("baseline", "final"):
        [event] = [e for e in events if e["kind"] == kind]
        for key in ("eval_loss", "accuracy", "mean_tokens", "cap_hit_rate", "success_delta", "token_reduction"):
            assert key in event, (kind, key)
    assert [e for e in events if e["kind"] == "teacher"]


def test_times_increase(finished_run):
    times = [e["time"] for e in read_metrics(finished_run.metrics)]
    assert times == sorted(times)


def test_summary_written(finished_run):
    summary = read_summary(finished_run)
    assert summary.steps == 6
    assert summary.success_delta is not None
    assert summary.wall_clock_hours > 0


def test_sampling_recorded(finished_run):
    sampling = read_record(finished_run).sampling
    assert sampling["temperature"] == 0.9
    assert sampling["top_p"] == 1.0
    assert sampling["top_k"] == 0
    assert sampling["do_sample"] is True


def test_wandb_offline_without_key(finished_run):
    record = read_record(finished_run)
    assert record.wandb["mode"] == "offline"
    assert "no W&B API key" in record.wandb["reason"]
    assert record.wandb["sync_command"].startswith("wandb sync ")
    [offline_run] = finished_run.wandb.glob("offline-run-*")
    history = b"".join(path.read_bytes() for path in offline_run.glob("*.wandb"))
    # Baseline metrics come before step 1; W&B drops lines logged at a lower step than the last.
    assert b"baseline/accuracy" in history
    assert b"teacher/accuracy" in history
    assert b"train/loss" in history
    logs = "".join(path.read_text(errors="replace") for path in (offline_run / "logs").glob("*.log"))
    assert "less than current step" not in logs


def test_versions_recorded(finished_run):
    versions = read_record(finished_run).versions
    assert set(versions) >= {"torch", "transformers", "trl", "python"}


def test_checkpoints_and_log(finished_run):
    assert last_checkpoint(finished_run).name == "checkpoint-6"
    assert "training starts" in finished_run.log.read_text()


def test_log_has_progress_not_dicts(finished_run):
    assert "step 6/6: loss" in finished_run.log.read_text()
    stdout = (finished_run.root.parent.parent / "stdout.txt").read_text()
    assert "{'loss'" not in stdout


def test_sigterm_stops_then_resume(tiny_pair, tiny_gsm8k, tmp_path):
    runs = tmp_path / "runs"
    command = [
        sys.executable, "-m", "trainer.cli", "--gear", "diagnostic", *map(str, _models(tiny_pair)),
        "--dataset-name", str(tiny_gsm8k), "--runs-dir", str(runs), "--run-id", "stop-me",
        "max_steps=8", "eval_steps=0", "eval_sample_size=4", "min_reward=0.0", "max_new_tokens=8",
        "save_steps=100", "report_to=none",
    ]
    process = subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    paths = RunPaths(runs / "stop-me")
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        if any(e["kind"] == "train" and e["step"] >= 2 for e in read_metrics(paths.metrics)):
            break
        assert process.poll() is None, process.stderr.read()[-3000:]
        time.sleep(0.2)
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=120) == 0
    record = read_record(paths)
    assert record.status == "stopped"
    assert "SIGTERM" in record.message
    checkpoint = last_checkpoint(paths)
    assert checkpoint is not None
    stopped_step = int(checkpoint.name.split("-")[1])
    assert 2 <= stopped_step < 8

    resumed = run_atlas_train(["--runs-dir", runs, "--resume", "stop-me"], cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    record = read_record(paths)
    assert record.status == "finished"
    assert record.resumed == 1
    steps = [e["step"] for e in read_metrics(paths.metrics) if e["kind"] == "train"]
    assert steps[-1] == 8
    assert steps[steps.index(stopped_step) + 1] == stopped_step + 1
    assert len([e for e in read_metrics(paths.metrics) if e["kind"] == "baseline"]) == 1


def test_sigterm_before_training_stops(tiny_pair, tiny_gsm8k, tmp_path):
    runs = tmp_path / "runs"
    command = [
        sys.executable, "-m", "trainer.cli", "--gear", "diagnostic", *map(str, _models(tiny_pair)),
        "--dataset-name", str(tiny_gsm8k), "--runs-dir", str(runs), "--run-id", "early",
        "max_steps=4", "min_reward=0.5", "reward_samples=64", "reward_max_new_tokens=64", "report_to=none",
    ]
    process = subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    paths = RunPaths(runs / "early")
    deadline = time.monotonic() + 120
    while "teacher pass rate" not in (paths.log.read_text() if paths.log.exists() else ""):
        assert time.monotonic() < deadline, "reward scoring never started"
        assert process.poll() is None
        time.sleep(0.1)
    started = time.monotonic()
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=60) == 0
    assert time.monotonic() - started < 15
    record = read_record(paths)
    assert record.status == "stopped"
    assert "before training" in record.message
    assert not [e for e in read_metrics(paths.metrics) if e["kind"] == "train"]


def test_nan_student_diverges(tiny_pair, tiny_gsm8k, tmp_path):
    from safetensors.torch import load_file, save_file

    student, teacher = tiny_pair
    broken = tmp_path / "nan-student"
    broken.mkdir()
    for item in student.iterdir():
        (broken / item.name).write_bytes(item.read_bytes())
    weights = load_file(broken / "model.safetensors")
    norm = next(name for name in weights if name.endswith("norm.weight"))
    weights[norm][0] = float("nan")
    save_file(weights, broken / "model.safetensors", metadata={"format": "pt"})

    result = run_atlas_train(
        ["--gear", "diagnostic", "--student", broken, "--teacher", teacher, "--dataset-name", tiny_gsm8k,
         "--runs-dir", tmp_path / "runs", "--run-id", "nan", "max_steps=5", "eval_steps=0", "eval_sample_size=2",
         "min_reward=0.0", "max_new_tokens=4", "lmbda=0.0", "report_to=none"],
        cwd=tmp_path,
    )
    assert result.returncode == 3, result.stderr[-3000:]
    paths = RunPaths(tmp_path / "runs" / "nan")
    record = read_record(paths)
    assert record.status == "diverged"
    assert record.diverged_at_step == 1
    train = [e for e in read_metrics(paths.metrics) if e["kind"] == "train"]
    assert len(train) == 1
    assert math.isnan(train[0]["loss"])


def test_missing_chat_template_fails_fast(tiny_pair, tiny_gsm8k, tmp_path):
    from tiny_models import build_model, build_tokenizer

    plain = tmp_path / "plain"
    build_model(plain, build_tokenizer(plain, chat_template=False))
    result = run_atlas_train(
        ["--gear", "diagnostic", "--student", plain, "--teacher", tiny_pair[1], "--dataset-name", tiny_gsm8k,
         "--runs-dir", tmp_path / "runs", "--run-id", "plain", "report_to=none"],
        cwd=tmp_path,
    )
    assert result.returncode == 1
    record = read_record(RunPaths(tmp_path / "runs" / "plain"))
    assert record.status == "failed"
    assert "has no chat template" in record.message
    assert "loading student" not in (tmp_path / "runs" / "plain" / "trainer.log").read_text()


def test_existing_run_id_rejected(finished_run, tmp_path):
    result = run_atlas_train(
        ["--gear", "diagnostic", "--runs-dir", finished_run.root.parent, "--run-id", "diag"], cwd=tmp_path
    )
    assert result.returncode == 2
    assert "already exists" in result.stderr
