"""Multi-process runs through accelerate launch (two gloo processes on CPU)."""

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time

import pytest

from conftest import run_atlas_train
from gears import resolve
from state.metrics import read_metrics
from state.paths import RunPaths, last_checkpoint
from state.record import read_record
from trainer.launch import LaunchError, check_backend

pytestmark = pytest.mark.slow


def _base_args(tiny_pair, data, runs, run_id):
    student, teacher = tiny_pair
    return ["--gear", "diagnostic", "--student", student, "--teacher", teacher, "--dataset-name", data,
            "--runs-dir", runs, "--run-id", run_id, "eval_sample_size=4", "min_reward=0.0", "max_new_tokens=8",
            "report_to=none", "processes=2", f"main_port={_free_port()}"]


def test_two_processes_finish(tiny_pair, tiny_gsm8k, tmp_path):
    result = run_atlas_train(_base_args(tiny_pair, tiny_gsm8k, tmp_path / "runs", "ddp") + ["max_steps=4", "eval_steps=4"],
                             cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    paths = RunPaths(tmp_path / "runs" / "ddp")
    record = read_record(paths)
    assert record.status == "finished"
    assert "accelerate.commands.launch" in record.launch_command
    assert "--num_processes" in record.launch_command
    steps = [e["step"] for e in read_metrics(paths.metrics) if e["kind"] == "train"]
    assert steps == [1, 2, 3, 4]
    log = paths.log.read_text()
    assert "[default0]:" in log
    assert "[default1]:" in log


def test_two_processes_stop(tiny_pair, tiny_gsm8k, tmp_path):
    command = [sys.executable, "-m", "trainer.cli", *map(str, _base_args(tiny_pair, tiny_gsm8k, tmp_path / "runs", "stop2")),
               "max_steps=200", "eval_steps=0", "save_steps=1000"]
    process = subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               start_new_session=True)
    paths = RunPaths(tmp_path / "runs" / "stop2")
    deadline = time.monotonic() + 240
    while not any(e["kind"] == "train" and e["step"] >= 2 for e in read_metrics(paths.metrics)):
        assert time.monotonic() < deadline, "no training step within 240 s"
        assert process.poll() is None
        time.sleep(0.2)
    os.killpg(process.pid, signal.SIGTERM)
    assert process.wait(timeout=120) == 0
    record = read_record(paths)
    assert record.status == "stopped"
    assert last_checkpoint(paths) is not None
    steps = [e["step"] for e in read_metrics(paths.metrics) if e["kind"] == "train"]
    assert steps == sorted(set(steps))


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_sharded_evaluation_matches_single(tiny_pair, tmp_path):
    student_dir, _ = tiny_pair
    script = tmp_path / "evaluate.py"
    script.write_text(textwrap.dedent(f"""
        import json, sys, torch
        from accelerate import PartialState
        from trainer import models
        from trainer.data import Example
        from trainer.evaluation import evaluate
        from trainer.prompts import build_messages
        PartialState(cpu=True)
        tokenizer = models.load_tokenizer({str(student_dir)!r})
        model = models.load_model({str(student_dir)!r}, models.Placement("cpu", torch.float32, False))
        examples = [Example(messages=tuple(build_messages(f"What is {{i}} plus " + "one " * (i % 5), "#### 1")),
                            reference="#### 1") for i in range(11)]
        result = evaluate(model, tokenizer, examples, max_new_tokens=6, batch_size=2,
                          eos_ids=models.eos_token_ids(tokenizer, model))
        if PartialState().process_index == 0:
            json.dump(result.as_metrics(), open(sys.argv[1], "w"))
    """))
    outputs = {}
    for processes in (1, 2):
        out = tmp_path / f"result-{processes}.json"
        launched = subprocess.run(
            [sys.executable, "-m", "torch.distributed.run", f"--nproc-per-node={processes}",
             f"--master-port={_free_port()}", str(script), str(out)],
            capture_output=True, text=True, timeout=180,
        )
        assert launched.returncode == 0, launched.stderr[-3000:]
        outputs[processes] = json.loads(out.read_text())
    assert outputs[1]["samples"] == 11
    assert outputs[2] == outputs[1]


def test_fsdp_rejected(tmp_path):
    config_file = tmp_path / "fsdp.yaml"
    config_file.write_text("distributed_type: FSDP\nnum_processes: 2\n")
    config = resolve("diagnostic", overrides=["processes=2", f"accelerate_config={config_file}"])
    with pytest.raises(LaunchError, match="backend FSDP is not supported: .*use DeepSpeed ZeRO-3"):
        check_backend(config)


def test_deepspeed_needs_package(tmp_path):
    try:
        import deepspeed  # noqa: F401
        pytest.skip("deepspeed is installed here")
    except ImportError:
        pass
    config_file = tmp_path / "ds.yaml"
    config_file.write_text("distributed_type: DEEPSPEED\n")
    config = resolve("diagnostic", overrides=["processes=2", f"accelerate_config={config_file}"])
    with pytest.raises(LaunchError, match="backend DEEPSPEED is not available: the deepspeed package is not installed"):
        check_backend(config)


def test_ddp_is_default():
    assert check_backend(resolve("diagnostic", overrides=["processes=2"])) == "MULTI_GPU"
