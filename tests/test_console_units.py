"""The console's non-UI parts: downsampling, the run model, log tail, status labels, launch commands."""

import json
import math
import subprocess
import sys
from datetime import datetime, timedelta, timezone

import pytest

from console.compare import METRICS, build_comparison, to_markdown
from console.downsample import MinMaxSeries
from console.launcher import LaunchRequest, Launcher, devices_overlap
from console.log_tail import LogTail
from console.models import default_choice, model_available
from console.preflight import run_preflight
from console.promotion import promoted_config, promotion_request
from state.promotion import promotion_blockers
from console.run_model import RunModel
from console.run_status import describe_status
from console.sample_runs import SampleRun, metrics_lines, write_sample_run
from console.store import RunStore
from console import formatting
from gears import resolve
from state.gate import evaluate_gate
from state.metrics import read_metrics
from state.process import current_host
from state.record import FAILED, RUNNING, RunRecord, read_record
from state.runs import LOST_MESSAGE
from state.summary import RunSummary


# --- downsampling


def test_series_small_keeps_points():
    series = MinMaxSeries(max_buckets=64)
    for x in range(10):
        series.append(x, float(x))
    columns = series.columns(100)
    assert columns.xs == list(range(10))
    assert columns.ys == [float(x) for x in range(10)]


def test_series_buckets_bounded():
    series = MinMaxSeries(max_buckets=64)
    for x in range(100_000):
        series.append(x, math.sin(x))
    assert len(series._buckets) <= 64
    assert len(series.columns(40).xs) <= 80


def test_series_keeps_extremes():
    series = MinMaxSeries(max_buckets=16)
    spikes = {4321: 1000.0, 77: -5.0}
    for x in range(10_000):
        series.append(x, spikes.get(x, 0.0))
    columns = series.columns(10)
    assert max(columns.ys) == 1000.0
    assert min(columns.ys) == -5.0


def test_series_marks_nonfinite():
    series = MinMaxSeries(max_buckets=64)
    for x in range(20):
        series.append(x, float("nan") if x == 7 else 1.0)
    columns = series.columns(100)
    assert columns.nonfinite_xs == [7]
    assert 7 not in columns.xs


def test_series_nonfinite_thinned():
    series = MinMaxSeries(max_buckets=16)
    for x in range(1000):
        series.append(x, float("inf"))
    assert 0 < len(series.columns(10).nonfinite_xs) <= 16


# --- run model


def test_model_latest_values():
    model = RunModel()
    model.ingest(metrics_lines(SampleRun("r1", steps=40, total_steps=40)))
    assert model.last_step == 40
    assert model.last_eval_loss == 1.5
    assert model.first_nonfinite_step is None


def test_model_first_nonfinite_step():
    model = RunModel()
    model.ingest(metrics_lines(SampleRun("r1", status=RUNNING, steps=9, nonfinite_at=7)))
    assert model.first_nonfinite_step == 7


def test_model_wall_clock_rates():
    model = RunModel()
    model.ingest(metrics_lines(SampleRun("r1", status=RUNNING, steps=30, total_steps=60)))
    wall = model.wall_clock(total_steps=60)
    assert wall.steps_per_second == pytest.approx(2.0)
    assert wall.eta == pytest.approx(15.0)
    assert wall.tokens_per_second == pytest.approx(2 * 4096)
    assert wall.generation_share == pytest.approx(0.6)


def test_model_baseline_comparison():
    model = RunModel()
    model.ingest(metrics_lines(SampleRun("r1", steps=60, accuracy_change=0.06)))
    comparison = model.baseline_comparison()
    assert comparison.baseline_accuracy == 0.31
    assert comparison.latest_accuracy == pytest.approx(0.37)
    assert comparison.success_delta == pytest.approx(0.06)
    assert comparison.teacher_accuracy == 0.72


def test_model_gate_matches_full_stream(tmp_path):
    paths = write_sample_run(tmp_path, SampleRun("diagnostic-1", steps=60))
    record = read_record(paths)
    model = RunModel()
    model.ingest(read_metrics(paths.metrics))
    expected = evaluate_gate(record, read_metrics(paths.metrics))
    assert evaluate_gate(record, model.gate_events()) == expected


# --- log tail


def test_log_tail_holds_partial_line(tmp_path):
    path = tmp_path / "trainer.log"
    path.write_text("one\ntw")
    tail = LogTail(path)
    assert tail.poll() == ["one"]
    with open(path, "a") as stream:
        stream.write("o\nthree\n")
    assert tail.poll() == ["two", "three"]


def test_log_tail_keeps_last_progress_state(tmp_path):
    path = tmp_path / "trainer.log"
    path.write_text("10%\r50%\r100%\n")
    assert LogTail(path).poll() == ["100%"]


# --- status labels


def test_status_nan_means_diverged():
    record = RunRecord(id="r", gear="diagnostic", status=RUNNING)
    assert describe_status(record, first_nonfinite_step=7).text == "diverged at step 7"


def test_status_lost():
    record = RunRecord(id="r", gear="diagnostic", status=FAILED, message=LOST_MESSAGE)
    assert describe_status(record).text == "failed (lost)"


def test_status_failed_detail_has_message():
    record = RunRecord(id="r", gear="diagnostic", status=FAILED, message="CUDA out of memory")
    assert describe_status(record).detail == "failed: CUDA out of memory"


# --- store


def test_store_marks_dead_run_lost(tmp_path):
    sample = SampleRun("diagnostic-lost", status=RUNNING, steps=5, pid=2**22 + 12345, host=current_host())
    paths = write_sample_run(tmp_path, sample)
    watches = RunStore(tmp_path).poll_all()
    assert watches[0].record.status == FAILED
    assert read_record(paths).message == LOST_MESSAGE


def test_store_reads_only_new_bytes(tmp_path):
    paths = write_sample_run(tmp_path, SampleRun("diagnostic-grow", status=RUNNING, steps=5, host="elsewhere"))
    store = RunStore(tmp_path)
    store.poll_all()
    offset = store.watch("diagnostic-grow")._tail.offset
    with open(paths.metrics, "a") as stream:
        stream.write(json.dumps({"kind": "train", "step": 6, "time": 9.0, "loss": 1.0, "grad_norm": 2.0}) + "\n")
    store.poll_all()
    watch = store.watch("diagnostic-grow")
    assert watch.model.last_step == 6
    assert watch._tail.offset > offset


def test_store_newest_first(tmp_path):
    write_sample_run(tmp_path, SampleRun("old", age=timedelta(hours=5)))
    write_sample_run(tmp_path, SampleRun("new", age=timedelta(hours=1)))
    assert [watch.run_id for watch in RunStore(tmp_path).poll_all()] == ["new", "old"]


# --- launcher


def test_command_carries_everything(tmp_path):
    launcher = Launcher(tmp_path, trainer_command=["atlas-train"])
    request = LaunchRequest(
        gear="reliability", demo=True, parent="diagnostic-1", student="s", teacher="t", dataset_name="d", overrides=("max_steps=3",)
    )
    command = launcher.build_command(request, "reliability-1")
    assert command == [
        "atlas-train", "--gear", "reliability", "--demo", "--runs-dir", str(tmp_path.resolve()), "--run-id", "reliability-1",
        "--parent", "diagnostic-1", "--student", "s", "--teacher", "t", "--dataset-name", "d", "max_steps=3",
    ]


def test_command_falls_back_to_module(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(sys, "executable", str(tmp_path / "python"))
    assert Launcher(tmp_path).trainer_command() == [str(tmp_path / "python"), "-m", "trainer.cli"]


@pytest.mark.parametrize(
    "first, second, overlap",
    [("all", "all", True), ("0", "0", True), ("0,1", "1", True), ("0", "1", False), ("all", "3", True), ("", "all", False)],
)
def test_devices_overlap(first, second, overlap):
    assert devices_overlap(first, second) is overlap


def test_gpu_conflict_names_live_run(tmp_path):
    live = RunRecord(id="diagnostic-live", gear="diagnostic", status=RUNNING, cuda_visible_devices="0")
    conflict = Launcher(tmp_path).find_gpu_conflict(LaunchRequest(gear="diagnostic", cuda_visible_devices="0"), [live])
    assert conflict == ("diagnostic-live", "0")


# --- models and preflight


def test_demo_default_without_models(tmp_path):
    assert default_choice(resolve("diagnostic"), cache_dir=tmp_path).demo is True


def test_gear_models_when_cached(tmp_path):
    config = resolve("diagnostic")
    for name in (config["student"], config["teacher"]):
        (tmp_path / f"models--{name.replace('/', '--')}").mkdir()
    assert default_choice(config, cache_dir=tmp_path).demo is False


def test_local_model_folder_available(tmp_path):
    assert model_available(str(tmp_path), cache_dir=tmp_path / "empty") is True


def test_preflight_result_shape():
    result = run_preflight("demo", "demo", resolve("diagnostic", demo=True))
    if result.error is not None:
        assert result.error.startswith(("preflight unavailable:", "preflight failed:"))
    else:
        assert result.exit_code in (0, 1, 2)


# --- promotion and comparison


def test_promotion_blocked_by_failing_gate(tmp_path):
    paths = write_sample_run(tmp_path, SampleRun("diagnostic-bad", accuracy_change=-0.1))
    record = read_record(paths)
    blockers = promotion_blockers(record, evaluate_gate(record, read_metrics(paths.metrics)))
    assert len(blockers) == 1
    assert blockers[0].startswith("✗ success delta")


def test_promotion_request_carries_run(tmp_path):
    record = read_record(write_sample_run(tmp_path, SampleRun("diagnostic-ok")))
    request = promotion_request(record, ["max_steps=4"])
    assert (request.gear, request.demo, request.parent, request.overrides) == ("reliability", True, "diagnostic-ok", ("max_steps=4",))


def test_promoted_config_is_reliability(tmp_path):
    record = read_record(write_sample_run(tmp_path, SampleRun("diagnostic-ok")))
    config = promoted_config(record)
    assert config["max_steps"] == resolve("reliability", demo=True)["max_steps"]


def test_markdown_table():
    summary = RunSummary(steps=10, train_loss_first=2.0, train_loss_last=1.0, success_delta=0.05, token_reduction=0.1,
                         eval_loss_first=1.9, eval_loss_last=1.5, wall_clock_hours=0.25)
    text = to_markdown(build_comparison("d", summary, "r", None))
    assert "| Metric | Gear 1 (Diagnostic) | Gear 2 (Reliability) |" in text
    assert "| Train Loss (start → end) | 2.0000 → 1.0000 |  |" in text
    assert text.count("\n|") == len(METRICS) + 2  # header, rule, one line per metric


# --- formatting


def test_age_units():
    now = datetime(2026, 1, 1, tzinfo=timezone.utc)
    assert [formatting.age(now - timedelta(seconds=s), now) for s in (5, 300, 7200, 200000)] == ["5s", "5m", "2h", "2d"]


def test_duration_format():
    assert [formatting.duration(s) for s in (42, 185, 7620)] == ["42s", "3m05s", "2h07m"]


# --- start-up


def test_no_training_libraries_imported():
    code = (
        "import sys, console.app, console.screens.monitor, console.screens.launch, console.screens.promote, "
        "console.screens.compare; print(sorted({'torch', 'transformers', 'trl', 'datasets', 'wandb'} & set(sys.modules)))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_help_documents_runs_dir():
    result = subprocess.run([sys.executable, "-m", "console", "--help"], capture_output=True, text=True, check=True)
    assert "--runs-dir" in result.stdout
    assert "$ATLAS_RUNS_DIR" in result.stdout
