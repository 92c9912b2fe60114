"""The console app driven by keys at 80×24: runs, monitor, gate and promotion, compare, launch."""

import json
import os
import signal
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
from textual.widgets import Checkbox, DataTable, Input, Static

from console.app import AtlasConsole
from console.launcher import Launcher
from console.sample_runs import SAMPLE_TIME, SampleRun, metrics_lines, write_events, write_sample_run
from console.screens.compare import CompareScreen
from console.screens.confirm import ConfirmScreen
from console.screens.launch import LaunchScreen
from console.screens.monitor import MonitorScreen
from console.screens.promote import PromoteScreen
from console.screens.runs import RunsScreen
from console.widgets.status_line import StatusLine
from state.paths import RunPaths
from state.process import current_host
from state.metrics import read_metrics
from state.record import FAILED, RUNNING, read_record
from state.summary import summarize, write_summary

REPO_ROOT = Path(__file__).resolve().parent.parent
SIZE = (80, 24)
DEAD_PID = 2**22 + 4321

# Behaves like atlas-train as far as the console can see: writes run.toml (running, with its pid)
# and one train line, and records `stopped` on SIGTERM.
FAKE_TRAINER = """
import argparse, json, os, signal, sys, time
from gears import resolve
from state.paths import RunPaths
from state.process import current_host
from state.record import RunRecord, update_record, utc_now, write_record

parser = argparse.ArgumentParser()
for flag in ("--gear", "--runs-dir", "--run-id", "--parent", "--student", "--teacher", "--dataset-name"):
    parser.add_argument(flag)
parser.add_argument("--demo", action="store_true")
args, overrides = parser.parse_known_args()
paths = RunPaths.of(args.runs_dir, args.run_id)
config = resolve(args.gear, demo=args.demo).values
write_record(paths, RunRecord(id=args.run_id, gear=args.gear, demo=args.demo, parent=args.parent, status="running",
                              pid=os.getpid(), host=current_host(), total_steps=100, command=sys.argv, config=config))

def stop(signum, frame):
    update_record(paths, status="stopped", message="SIGTERM", ended_at=utc_now())
    sys.exit(0)

signal.signal(signal.SIGTERM, stop)
with open(paths.metrics, "a") as stream:
    stream.write(json.dumps({"kind": "train", "step": 1, "time": 0.5, "loss": 2.0, "grad_norm": 1.0}) + "\\n")
print("fake trainer running", flush=True)
time.sleep(60)
"""


@pytest.fixture
def runs_dir(tmp_path):
    path = tmp_path / "runs"
    path.mkdir()
    return path


@pytest.fixture
def launcher(tmp_path, runs_dir, monkeypatch):
    """A launcher whose trainer is FAKE_TRAINER; every process it starts is killed after the test."""
    script = tmp_path / "fake_trainer.py"
    script.write_text(FAKE_TRAINER)
    monkeypatch.setenv("PYTHONPATH", str(REPO_ROOT))
    launcher = Launcher(runs_dir, trainer_command=[sys.executable, str(script)])
    yield launcher
    for child in launcher.children():
        if child.process.poll() is None:
            os.killpg(child.pid, signal.SIGKILL)
            child.process.wait()


def make_app(runs_dir, tmp_path, launcher=None, **options):
    (tmp_path / "hub").mkdir(exist_ok=True)
    return AtlasConsole(
        runs_dir,
        clock=lambda: SAMPLE_TIME,
        launcher=launcher,
        poll_interval=0.1,
        monitor_interval=0.1,
        hub_cache_dir=tmp_path / "hub",
        **options,
    )


async def wait_for(pilot, condition, timeout=5.0, description="condition"):
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {description}")
        await pilot.pause(0.02)


async def open_monitor(pilot, app, run_id):
    """Open the monitor of `run_id` and wait until it shows the run and its gate."""
    app.open_run(run_id)
    await wait_for(pilot, lambda: isinstance(app.screen, MonitorScreen) and app.screen.view is not None, timeout=10)
    await wait_for(pilot, lambda: app.screen.view.record is None or app.screen.view.gate is not None, timeout=10)
    return app.screen


def focused_id(app):
    return app.focused.id if app.focused is not None else None


def table_column(app, column):
    table = app.screen.query_one("#runs", DataTable)
    index = [c.label.plain for c in table.columns.values()].index(column)
    return [table.get_row_at(row)[index] for row in range(table.row_count)]


def status_text(app):
    return str(app.screen.query_one("#status", StatusLine).render())


def notifications(app):
    return [notification.message for notification in app._notifications]


def write_diagnostic_pair(runs_dir):
    write_sample_run(runs_dir, SampleRun("diagnostic-pass", age=timedelta(hours=3)))
    write_sample_run(runs_dir, SampleRun("diagnostic-fail", accuracy_change=-0.1, age=timedelta(hours=2)))
    write_sample_run(
        runs_dir,
        SampleRun("reliability-child", gear="reliability", parent="diagnostic-pass", steps=80, total_steps=80, age=timedelta(hours=1)),
    )


# --- runs screen


async def test_runs_listed_newest_first(runs_dir, tmp_path):
    write_diagnostic_pair(runs_dir)
    app = make_app(runs_dir, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.screen.first_poll_done, description="first poll")
        assert table_column(app, "run") == ["reliability-child", "diagnostic-fail", "diagnostic-pass"]
        assert table_column(app, "gate") == ["pass", "fail", "pass"]
        assert table_column(app, "step") == ["80/80", "60/60", "60/60"]


async def test_dead_pid_shown_lost(runs_dir, tmp_path):
    write_sample_run(runs_dir, SampleRun("diagnostic-gone", status=RUNNING, steps=5, pid=DEAD_PID, host=current_host()))
    app = make_app(runs_dir, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.screen.first_poll_done)
        assert table_column(app, "status") == ["failed (lost)"]
    assert read_record(RunPaths.of(runs_dir, "diagnostic-gone")).status == FAILED


async def test_live_run_reattached(runs_dir, tmp_path):
    write_sample_run(runs_dir, SampleRun("diagnostic-live", status=RUNNING, steps=5, pid=os.getpid(), host=current_host()))
    app = make_app(runs_dir, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.screen.first_poll_done)
        assert table_column(app, "status") == ["running"]
        assert "re-attached 1 live run(s): diagnostic-live" in notifications(app)


async def test_enter_opens_selected_run(runs_dir, tmp_path):
    write_diagnostic_pair(runs_dir)
    app = make_app(runs_dir, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.screen.first_poll_done)
        await pilot.press("down", "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, MonitorScreen))
        assert app.screen.run_id == "diagnostic-fail"
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, RunsScreen))


async def test_empty_runs_dir_hint(runs_dir, tmp_path):
    app = make_app(runs_dir, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.screen.first_poll_done)
        assert "Press n to launch one" in str(app.screen.query_one("#run-detail", Static).render())


async def test_q_quits(runs_dir, tmp_path):
    app = make_app(runs_dir, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("q")
    assert app.return_code == 0


# --- monitor


async def test_metrics_tail_detects_divergence(runs_dir, tmp_path):
    """The file grows while the app runs: a partial line waits, a NaN at step 7 means diverged."""
    sample = SampleRun("diagnostic-grow", status=RUNNING, steps=6, total_steps=100, pid=os.getpid(), host=current_host())
    paths = write_sample_run(runs_dir, sample)
    app = make_app(runs_dir, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await open_monitor(pilot, app, "diagnostic-grow")
        assert status_text(app).startswith("running")

        line = json.dumps({"kind": "train", "step": 7, "time": 6.0, "loss": float("nan"), "grad_norm": 3.0})
        with open(paths.metrics, "a") as stream:
            stream.write(line[:20])
        await pilot.pause(0.3)
        assert app.screen.view.step == 6
        assert status_text(app).startswith("running")

        with open(paths.metrics, "a") as stream:
            stream.write(line[20:] + "\n")
        await wait_for(pilot, lambda: app.screen.view.step == 7)
        assert status_text(app).startswith("diverged at step 7")


async def test_keys_handled_while_lines_pour_in(runs_dir, tmp_path):
    """5,000 lines appended within a second while keys are pressed: each key acts within 1 s."""
    sample = SampleRun("diagnostic-flood", status=RUNNING, steps=1, total_steps=10_000, pid=os.getpid(), host=current_host())
    paths = write_sample_run(runs_dir, sample)
    flood = [e for e in metrics_lines(SampleRun("x", steps=5001, total_steps=10_000)) if e["kind"] == "train"][1:]

    append_seconds = []

    def append_flood():
        start = time.monotonic()
        for chunk in range(10):
            write_events(paths.metrics, flood[chunk * 500 : (chunk + 1) * 500], mode="a")
            time.sleep(0.05)
        append_seconds.append(time.monotonic() - start)

    app = make_app(runs_dir, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await open_monitor(pilot, app, "diagnostic-flood")
        monitor = app.screen
        writer = threading.Thread(target=append_flood)
        writer.start()
        latencies = []
        while writer.is_alive():
            for key, focused in (("l", "log"), ("g", None)):
                key_start = time.monotonic()
                await pilot.press(key)
                if focused:
                    await wait_for(pilot, lambda: app.focused is not None and app.focused.id == focused, timeout=1.0)
                latencies.append(time.monotonic() - key_start)
        writer.join()
        assert append_seconds[0] < 1.0
        await wait_for(pilot, lambda: monitor.view.step == 5001, description="last line drawn")
        key_start = time.monotonic()
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, RunsScreen), timeout=1.0, description="escape handled")
        latencies.append(time.monotonic() - key_start)
    assert max(latencies) < 1.0


async def test_monitor_charts_downsampled(runs_dir, tmp_path):
    write_sample_run(runs_dir, SampleRun("diagnostic-long", steps=20_000, total_steps=20_000, eval_steps=1000))
    app = make_app(runs_dir, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await open_monitor(pilot, app, "diagnostic-long")
        chart = app.screen.query_one("#loss-chart")
        assert chart.point_count <= 2 * chart.columns + 100


async def test_monitor_shows_log_tail(runs_dir, tmp_path):
    write_sample_run(runs_dir, SampleRun("diagnostic-pass"))
    app = make_app(runs_dir, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await open_monitor(pilot, app, "diagnostic-pass")
        log = app.screen.query_one("#log")
        await wait_for(pilot, lambda: len(log.lines) > 0)
        assert log.lines[-1].text.rstrip() == "run diagnostic-pass finished"


# --- gate and promotion


async def test_p_on_failing_gate_explains(runs_dir, tmp_path):
    write_diagnostic_pair(runs_dir)
    app = make_app(runs_dir, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await open_monitor(pilot, app, "diagnostic-fail")
        await pilot.press("p")
        assert isinstance(app.screen, MonitorScreen)
        assert any("✗ success delta" in text for text in notifications(app))


async def test_p_on_running_run_explains(runs_dir, tmp_path):
    write_sample_run(runs_dir, SampleRun("diagnostic-live", status=RUNNING, steps=5, pid=os.getpid(), host=current_host()))
    app = make_app(runs_dir, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await open_monitor(pilot, app, "diagnostic-live")
        await pilot.press("p")
        assert isinstance(app.screen, MonitorScreen)
        assert any("✗ run finished: status running" in text for text in notifications(app))


async def test_p_on_passing_gate_promotes(runs_dir, tmp_path, launcher):
    write_diagnostic_pair(runs_dir)
    app = make_app(runs_dir, tmp_path, launcher=launcher)
    async with app.run_test(size=SIZE) as pilot:
        await open_monitor(pilot, app, "diagnostic-pass")
        await pilot.press("p")
        await wait_for(pilot, lambda: focused_id(app) == "promote-overrides")
        await pilot.press(*"max_steps=5")
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, MonitorScreen) and app.screen.run_id.startswith("reliability-"))
        command = launcher.children()[0].command
        assert command[command.index("--parent") + 1] == "diagnostic-pass"
        assert "--demo" in command
        assert command[-1] == "max_steps=5"
        await wait_for(pilot, lambda: app.screen.view is not None and app.screen.view.record is not None)
        assert app.screen.view.record.parent == "diagnostic-pass"


async def test_promote_rejects_bad_override(runs_dir, tmp_path, launcher):
    write_diagnostic_pair(runs_dir)
    app = make_app(runs_dir, tmp_path, launcher=launcher)
    async with app.run_test(size=SIZE) as pilot:
        app.open_promotion(read_record(RunPaths.of(runs_dir, "diagnostic-pass")))
        await wait_for(pilot, lambda: focused_id(app) == "promote-overrides")
        await pilot.press(*"lmbda=2", "enter")
        assert isinstance(app.screen, PromoteScreen)
        assert "invalid value for 'lmbda'" in str(app.screen.query_one("#promote-validation", Static).render())
        assert launcher.children() == []


# --- compare


async def test_compare_and_export(runs_dir, tmp_path):
    write_diagnostic_pair(runs_dir)
    app = make_app(runs_dir, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.screen.first_poll_done)
        await pilot.press("down", "down", "c")
        await wait_for(pilot, lambda: isinstance(app.screen, CompareScreen) and app.screen.comparison is not None)
        table = app.screen.query_one("#compare", DataTable)
        assert [table.get_row_at(row)[0] for row in range(table.row_count)][0] == "Train Loss (start → end)"
        await pilot.press("e")
    exported = runs_dir / "compare-diagnostic-pass.md"
    assert "| Wall-Clock (hrs) |" in exported.read_text()


async def test_compare_fills_when_child_ends(runs_dir, tmp_path):
    write_sample_run(runs_dir, SampleRun("diagnostic-pass"))
    child = write_sample_run(runs_dir, SampleRun("reliability-live", gear="reliability", parent="diagnostic-pass",
                                                 status=RUNNING, steps=3, host="elsewhere", age=timedelta(minutes=1)))
    app = make_app(runs_dir, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        app.open_compare("reliability-live")
        await wait_for(pilot, lambda: isinstance(app.screen, CompareScreen) and app.screen.comparison is not None)
        table = app.screen.query_one("#compare", DataTable)
        assert [table.get_row_at(row)[2] for row in range(table.row_count)] == [""] * 5

        write_summary(child, summarize(read_metrics(child.metrics)))
        await wait_for(pilot, lambda: table.get_row_at(4)[2] != "", timeout=5.0, description="the filled column")
        assert table.get_row_at(0)[2].count("→") == 1


# --- launch


async def test_launch_defaults_to_demo(runs_dir, tmp_path):
    app = make_app(runs_dir, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("n")
        await wait_for(pilot, lambda: focused_id(app) == "overrides")
        assert app.screen.query_one("#demo", Checkbox).value is True
        assert app.screen.query_one("#student", Input).value == "demo"


async def test_launch_validates_overrides(runs_dir, tmp_path, launcher):
    app = make_app(runs_dir, tmp_path, launcher=launcher)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("n")
        await wait_for(pilot, lambda: focused_id(app) == "overrides")
        await pilot.press(*"max_step=3")
        validation = str(app.screen.query_one("#validation", Static).render())
        assert "unknown config key 'max_step'" in validation
        assert "did you mean 'max_steps'?" in validation
        await pilot.press("ctrl+g")
        assert isinstance(app.screen, LaunchScreen)
        assert launcher.children() == []


async def test_launch_starts_trainer(runs_dir, tmp_path, launcher):
    app = make_app(runs_dir, tmp_path, launcher=launcher)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("n")
        await wait_for(pilot, lambda: focused_id(app) == "overrides")
        await pilot.press(*"max_steps=3", "ctrl+g")
        await wait_for(pilot, lambda: isinstance(app.screen, MonitorScreen))
        command = launcher.children()[0].command
        assert command[2:] == ["--gear", "diagnostic", "--demo", "--runs-dir", str(runs_dir.resolve()),
                               "--run-id", app.screen.run_id, "max_steps=3"]
        await wait_for(pilot, lambda: app.screen.view is not None and app.screen.view.status.text == "running")


async def test_ctrl_t_switches_gear(runs_dir, tmp_path):
    app = make_app(runs_dir, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("n")
        await wait_for(pilot, lambda: focused_id(app) == "overrides")
        await pilot.press("ctrl+t")
        assert app.screen.gear == "reliability"
        assert app.screen.config.gear == "reliability"


async def test_check_models_demo_not_blocked(runs_dir, tmp_path):
    """An unbuilt demo pair is reported, but atlas-train builds it at start, so launch stays open."""
    app = make_app(runs_dir, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("n")
        await wait_for(pilot, lambda: focused_id(app) == "overrides")
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: app.screen.preflight is not None, timeout=30)
        assert app.screen.preflight.blocks_launch is False
        assert app.screen.query_one("#preflight", DataTable).row_count == len(app.screen.preflight.rows)


async def test_preflight_errors_block_launch(runs_dir, tmp_path, launcher):
    app = make_app(runs_dir, tmp_path, launcher=launcher)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("n")
        await wait_for(pilot, lambda: focused_id(app) == "overrides")
        await pilot.press("ctrl+o")
        screen = app.screen
        for name in ("student", "teacher"):
            screen.query_one(f"#{name}", Input).value = str(tmp_path / "no-such-model")
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: screen.preflight is not None, timeout=30)
        assert screen.preflight.blocks_launch is True
        await pilot.press("ctrl+g")
        assert isinstance(app.screen, LaunchScreen)
        assert launcher.children() == []
        assert str(screen.query_one("#preflight-status", Static).render()).startswith("✗ preflight found")


async def test_busy_gpu_asks_first(runs_dir, tmp_path, launcher):
    live = SampleRun("diagnostic-live", status=RUNNING, steps=5, pid=os.getpid(), host=current_host())
    paths = write_sample_run(runs_dir, live)
    from state.record import update_record

    update_record(paths, cuda_visible_devices="0")
    app = make_app(runs_dir, tmp_path, launcher=launcher)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.screen.first_poll_done)
        await pilot.press("n")
        await wait_for(pilot, lambda: focused_id(app) == "overrides")
        app.screen.query_one("#gpus", Input).value = "0"
        await pilot.press("ctrl+g")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        assert "diagnostic-live" in app.screen.question
        await pilot.press("n")
        await wait_for(pilot, lambda: focused_id(app) == "overrides")
        assert launcher.children() == []
        await pilot.press("ctrl+g")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await wait_for(pilot, lambda: isinstance(app.screen, MonitorScreen))
        assert len(launcher.children()) == 1
