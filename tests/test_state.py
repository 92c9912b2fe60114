"""The run directory contract: atomic records, the metrics stream, summaries, the gate, lost runs."""

import json
import math
import os
import subprocess
import sys

import pytest

from state.gate import evaluate_gate
from state.metrics import MetricsTail, MetricsWriter, read_metrics
from state.paths import RunIdError, RunPaths, new_run_id, resolve_runs_dir, validate_run_id
from state.promotion import PromotionError, check_parent
from state.record import FAILED, FINISHED, RUNNING, STOPPED, RecordError, RunRecord, read_record, update_record, write_record
from state.resume import ResumeError, check_resumable
from state.runs import list_runs, mark_if_lost
from state.summary import summarize
from state.tail import LineTail

GATE = {
    "require_finished": True,
    "require_loss_decrease": True,
    "eval_loss_tolerance": 0.05,
    "grad_norm_bound": 10.0,
    "min_success_delta": 0.0,
}


def _paths(tmp_path, run_id="run-1"):
    paths = RunPaths.of(tmp_path, run_id)
    paths.root.mkdir(parents=True)
    return paths


def _healthy_events():
    return [
        {"kind": "baseline", "step": 0, "time": 1.0, "eval_loss": 0.50, "accuracy": 0.20, "mean_tokens": 100.0,
         "cap_hit_rate": 0.1, "success_delta": 0.0, "token_reduction": 0.0},
        {"kind": "train", "step": 1, "time": 2.0, "loss": 1.0, "grad_norm": 2.0, "learning_rate": 1e-5},
        {"kind": "train", "step": 2, "time": 3.0, "loss": 0.8, "grad_norm": 1.5, "learning_rate": 1e-5},
        {"kind": "final", "step": 2, "time": 4.0, "eval_loss": 0.45, "accuracy": 0.35, "mean_tokens": 80.0,
         "cap_hit_rate": 0.0, "success_delta": 0.15, "token_reduction": 0.2},
    ]


# --- run ids and folders


@pytest.mark.parametrize("bad", ["../x", "a/b", "..", "", ".hidden", "x" * 200, "a..b"])
def test_run_id_rejects_unsafe(bad):
    with pytest.raises(RunIdError, match="invalid run id"):
        validate_run_id(bad)


def test_generated_run_id_valid():
    assert validate_run_id(new_run_id("diagnostic")).startswith("diagnostic-")


def test_runs_dir_order(monkeypatch, tmp_path):
    monkeypatch.setenv("ATLAS_RUNS_DIR", str(tmp_path / "env"))
    assert resolve_runs_dir(tmp_path / "flag") == tmp_path / "flag"
    assert resolve_runs_dir(None) == tmp_path / "env"
    monkeypatch.delenv("ATLAS_RUNS_DIR")
    assert str(resolve_runs_dir(None)) == "runs"


# --- run records


def test_record_round_trip(tmp_path):
    paths = _paths(tmp_path)
    record = RunRecord(id="run-1", gear="diagnostic", parent="diag-0", config={"beta": 0.5, "student": "demo"})
    write_record(paths, record)
    loaded = read_record(paths)
    assert loaded.parent == "diag-0"
    assert loaded.config == {"beta": 0.5, "student": "demo"}
    assert loaded.status == "pending"


def test_record_failed_write_keeps_old(tmp_path):
    paths = _paths(tmp_path)
    write_record(paths, RunRecord(id="run-1", gear="diagnostic", status=RUNNING))
    broken = RunRecord(id="run-1", gear="diagnostic", status=FINISHED, config={"bad": object()})
    with pytest.raises(TypeError):
        write_record(paths, broken)
    assert read_record(paths).status == RUNNING
    assert [p.name for p in paths.root.iterdir()] == ["run.toml"]


def test_record_readers_never_see_torn_file(tmp_path):
    paths = _paths(tmp_path)
    write_record(paths, RunRecord(id="run-1", gear="diagnostic"))
    writer = subprocess.Popen([sys.executable, "-c", (
        "import sys; from state.paths import RunPaths; from state.record import *\n"
        f"from pathlib import Path; p = RunPaths(Path({str(paths.root)!r}))\n"
        "for i in range(300): write_record(p, RunRecord(id='run-1', gear='diagnostic', total_steps=i, "
        "config={'pad': 'x' * 5000}))\n"
    )])
    reads = 0
    while writer.poll() is None:
        read_record(paths)  # raises RecordError on a torn file
        reads += 1
    assert writer.returncode == 0
    assert reads > 0


def test_record_invalid_status(tmp_path):
    with pytest.raises(RecordError, match="invalid run status 'done'"):
        write_record(_paths(tmp_path), RunRecord(id="run-1", gear="diagnostic", status="done"))


def test_record_missing_names_path(tmp_path):
    paths = _paths(tmp_path)
    with pytest.raises(RecordError, match="run record not found: .*run.toml"):
        read_record(paths)


# --- metrics stream


def test_metrics_lines_carry_schema(tmp_path):
    paths = _paths(tmp_path)
    writer = MetricsWriter(paths.metrics)
    writer.write("train", 1, loss=0.5, grad_norm=1.0, learning_rate=1e-5)
    writer.close()
    [event] = read_metrics(paths.metrics)
    assert event["kind"] == "train"
    assert event["step"] == 1
    assert event["time"] >= 0.0


def test_metrics_reject_unknown_kind(tmp_path):
    writer = MetricsWriter(_paths(tmp_path).metrics)
    with pytest.raises(ValueError, match="invalid metrics kind 'trian'"):
        writer.write("trian", 1)


def test_metrics_visible_before_close(tmp_path):
    paths = _paths(tmp_path)
    writer = MetricsWriter(paths.metrics)
    writer.write("train", 1, loss=0.5)
    assert len(read_metrics(paths.metrics)) == 1
    writer.close()


def test_metrics_keep_nonfinite(tmp_path):
    paths = _paths(tmp_path)
    writer = MetricsWriter(paths.metrics)
    writer.write("train", 7, loss=math.nan, grad_norm=math.inf)
    writer.close()
    [event] = read_metrics(paths.metrics)
    assert math.isnan(event["loss"])
    assert math.isinf(event["grad_norm"])


def test_partial_last_line_skipped(tmp_path):
    paths = _paths(tmp_path)
    paths.metrics.write_text('{"kind": "train", "step": 1, "time": 1.0, "loss": 0.5}\n{"kind": "train", "st')
    assert [event["step"] for event in read_metrics(paths.metrics)] == [1]


def test_writer_after_partial_line(tmp_path):
    paths = _paths(tmp_path)
    paths.metrics.write_text('{"kind": "train", "step": 1, "time": 1.0}\n{"kind": "tr')
    writer = MetricsWriter(paths.metrics, time_offset=1.0)
    writer.write("train", 2, loss=0.4)
    writer.close()
    events = read_metrics(paths.metrics)
    assert [event["step"] for event in events] == [1, 2]
    assert events[1]["time"] >= 1.0


def test_tail_reads_only_new_lines(tmp_path):
    paths = _paths(tmp_path)
    tail = MetricsTail(paths.metrics)
    assert tail.poll() == []
    with open(paths.metrics, "a") as stream:
        stream.write(json.dumps({"kind": "train", "step": 1, "time": 0.1}) + "\n")
        stream.write('{"kind": "train", "step": 2')
        stream.flush()
        assert [event["step"] for event in tail.poll()] == [1]
        stream.write(', "time": 0.2}\n')
        stream.flush()
        assert [event["step"] for event in tail.poll()] == [2]
    assert tail.poll() == []
    assert tail.offset == os.path.getsize(paths.metrics)


def test_line_tail_starts_near_end(tmp_path):
    path = tmp_path / "trainer.log"
    path.write_bytes(b"".join(b"line %04d\n" % number for number in range(1000)))
    tail = LineTail(path, start_bytes=25)
    # The last 25 bytes begin inside "line 0997"; that cut line is dropped.
    assert tail.poll() == [b"line 0998", b"line 0999"]
    with open(path, "ab") as stream:
        stream.write(b"line 1000\n")
    assert tail.poll() == [b"line 1000"]


def test_line_tail_rereads_a_replaced_file(tmp_path):
    path = tmp_path / "trainer.log"
    path.write_bytes(b"first run, a long line\n")
    tail = LineTail(path)
    assert tail.poll() == [b"first run, a long line"]
    path.write_bytes(b"second\n")
    assert tail.poll() == [b"second"]


def test_tail_counts_corrupt_lines(tmp_path):
    paths = _paths(tmp_path)
    paths.metrics.write_text('not json\n{"kind": "train", "step": 3, "time": 1}\n')
    tail = MetricsTail(paths.metrics)
    assert [event["step"] for event in tail.poll()] == [3]
    assert tail.skipped == 1


# --- summary and gate


def test_summary_cells():
    summary = summarize(_healthy_events())
    assert summary.train_loss_first == 1.0
    assert summary.train_loss_last == 0.8
    assert summary.eval_loss_first == 0.5
    assert summary.eval_loss_last == 0.45
    assert summary.success_delta == 0.15
    assert summary.token_reduction == 0.2
    assert summary.wall_clock_hours == pytest.approx(4.0 / 3600)


def test_gate_passes_healthy_run():
    record = RunRecord(id="r", gear="diagnostic", status=FINISHED, config=GATE)
    result = evaluate_gate(record, _healthy_events())
    assert result.passed, [c.line() for c in result.failures]
    assert "eval loss 0.5 → 0.45 (≤ +5%)" in result.criteria[3].evidence


def test_gate_fails_each_criterion():
    events = _healthy_events()
    events[2]["loss"] = 1.2                      # loss rose
    events[2]["grad_norm"] = 50.0                # above the bound
    events[3]["eval_loss"] = 0.6                 # +20%
    events[3]["success_delta"] = -0.05
    record = RunRecord(id="r", gear="diagnostic", status=RUNNING, config=GATE)
    failed = {criterion.name for criterion in evaluate_gate(record, events).failures}
    assert failed == {
        "run finished", "train loss decreased", "eval loss not diverging", "grad_norm bounded", "success delta",
    }


def test_gate_zero_loss_nan_grad_not_converged():
    events = _healthy_events()
    events[2].update(loss=0.0, grad_norm=math.nan)
    record = RunRecord(id="r", gear="diagnostic", status=FINISHED, config=GATE)
    result = evaluate_gate(record, events)
    assert not result.passed
    assert "first at step 2" in result.failures[0].evidence


# --- listing and lost runs


def test_dead_running_run_marked_lost(tmp_path):
    paths = _paths(tmp_path)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    write_record(paths, RunRecord(id="run-1", gear="diagnostic", status=RUNNING, pid=dead.pid, host=os.uname().nodename))
    [entry] = list_runs(tmp_path)
    corrected = mark_if_lost(entry.paths, entry.record)
    assert corrected.status == FAILED
    assert read_record(paths).message.startswith("lost")


def test_live_run_not_marked(tmp_path):
    paths = _paths(tmp_path)
    write_record(paths, RunRecord(id="run-1", gear="diagnostic", status=RUNNING, pid=os.getpid(), host=os.uname().nodename))
    assert mark_if_lost(paths, read_record(paths)).status == RUNNING


def test_list_runs_reports_broken_record(tmp_path):
    paths = _paths(tmp_path)
    paths.record.write_text("id = ")
    [entry] = list_runs(tmp_path)
    assert entry.record is None
    assert "invalid run record" in entry.error


def test_update_record_unknown_field(tmp_path):
    paths = _paths(tmp_path)
    write_record(paths, RunRecord(id="run-1", gear="diagnostic"))
    with pytest.raises(RecordError, match="unknown run record field 'colour'"):
        update_record(paths, colour="red")


# --- resume


def _trained_run(tmp_path, status, steps=3, **record_fields):
    paths = _paths(tmp_path)
    write_record(paths, RunRecord(id="run-1", gear="diagnostic", status=status, host=os.uname().nodename, **record_fields))
    writer = MetricsWriter(paths.metrics)
    for step in range(1, steps + 1):
        writer.write("train", step, loss=1.0, grad_norm=0.5, learning_rate=1e-5)
    writer.close()
    return paths


def test_resume_rejects_live_run(tmp_path):
    paths = _trained_run(tmp_path, RUNNING, pid=os.getpid())
    with pytest.raises(ResumeError, match=f"still running \\(pid {os.getpid()}\\)"):
        check_resumable(paths, read_record(paths))


def test_resume_rejects_finished_run(tmp_path):
    paths = _trained_run(tmp_path, FINISHED, demo=True)
    with pytest.raises(ResumeError, match="--gear reliability --demo --parent run-1"):
        check_resumable(paths, read_record(paths))


def test_resume_rejects_uncheckpointed_run(tmp_path):
    paths = _trained_run(tmp_path, STOPPED, command=["atlas-train", "--gear", "diagnostic"])
    with pytest.raises(ResumeError, match="trained to step 3") as raised:
        check_resumable(paths, read_record(paths))
    assert "atlas-train --gear diagnostic" in str(raised.value)


def test_resume_accepts_checkpointed_run(tmp_path):
    paths = _trained_run(tmp_path, STOPPED)
    (paths.checkpoints / "checkpoint-2").mkdir(parents=True)
    check_resumable(paths, read_record(paths))


def test_resume_accepts_untrained_run(tmp_path):
    paths = _trained_run(tmp_path, STOPPED, steps=0)
    check_resumable(paths, read_record(paths))


def test_resume_accepts_lost_run_with_dead_pid(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    paths = _trained_run(tmp_path, RUNNING, pid=dead.pid)
    (paths.checkpoints / "checkpoint-3").mkdir(parents=True)
    check_resumable(paths, read_record(paths))


def test_resume_error_from_command_line(tmp_path):
    paths = _trained_run(tmp_path, FINISHED)
    result = subprocess.run(
        [sys.executable, "-m", "trainer.cli", "--runs-dir", str(paths.root.parent), "--resume", "run-1"],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 2
    assert "atlas-train: error: run 'run-1' already finished" in result.stderr


# --- promotion from the command line


def _diagnostic_run(tmp_path, run_id="diag-1", status=FINISHED, gear="diagnostic"):
    paths = _paths(tmp_path, run_id)
    write_record(paths, RunRecord(id=run_id, gear=gear, status=status, config=GATE))
    paths.metrics.write_text("".join(json.dumps(event) + "\n" for event in _healthy_events()))
    return paths


def test_parent_passing_gate_accepted(tmp_path):
    _diagnostic_run(tmp_path)
    check_parent(tmp_path, "diag-1", "reliability")


def test_parent_missing_rejected(tmp_path):
    with pytest.raises(PromotionError, match="parent run 'diag-nope' not found"):
        check_parent(tmp_path, "diag-nope", "reliability")


def test_parent_wrong_gear_rejected(tmp_path):
    _diagnostic_run(tmp_path)
    with pytest.raises(PromotionError, match="promotes to the reliability gear, not to diagnostic"):
        check_parent(tmp_path, "diag-1", "diagnostic")


def test_parent_reliability_run_rejected(tmp_path):
    _diagnostic_run(tmp_path, gear="reliability")
    with pytest.raises(PromotionError, match="only diagnostic runs are promoted"):
        check_parent(tmp_path, "diag-1", "reliability")


def test_parent_stopped_run_rejected(tmp_path):
    _diagnostic_run(tmp_path, status=STOPPED)
    with pytest.raises(PromotionError, match="cannot be promoted: .*run finished"):
        check_parent(tmp_path, "diag-1", "reliability")


def test_parent_error_from_command_line(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "trainer.cli", "--gear", "reliability", "--demo", "--runs-dir", str(tmp_path), "--parent", "diag-nope"],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 2
    assert "parent run 'diag-nope' not found" in result.stderr
