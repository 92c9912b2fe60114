"""Snapshots of every screen at 80×24 and 160×48, on fixed sample runs and a fixed clock.

Update the baselines with `pytest tests/test_console_snapshots.py --snapshot-update` and review
the SVG diffs before accepting them.
"""

import os
import time
from datetime import timedelta
from pathlib import Path

import pytest
from textual.widgets import Input

from console.app import AtlasConsole
from console.sample_runs import SAMPLE_TIME, SampleRun, write_sample_run
from console.screens.monitor import MonitorScreen
from state.process import current_host

SIZES = [pytest.param((80, 24), id="80x24"), pytest.param((160, 48), id="160x48")]
PASSING = "diagnostic-20260105-090000-a1b2"
PROMOTED = "reliability-20260105-100000-c3d4"
FAILING = "diagnostic-20260105-103000-e5f6"
DIVERGED = "diagnostic-20260105-113000-0a0b"
RUNNING = "diagnostic-20260105-115000-9f9f"


@pytest.fixture
def app(tmp_path, monkeypatch):
    """The console on a runs folder named `runs` (relative, so the header is the same on every machine)."""
    monkeypatch.chdir(tmp_path)
    runs_dir = Path("runs")
    write_sample_run(runs_dir, SampleRun(PASSING, age=timedelta(hours=3)))
    write_sample_run(runs_dir, SampleRun(PROMOTED, gear="reliability", parent=PASSING, steps=120, total_steps=120,
                                         age=timedelta(hours=2)))
    write_sample_run(runs_dir, SampleRun(FAILING, accuracy_change=-0.08, age=timedelta(minutes=90)))
    write_sample_run(runs_dir, SampleRun(DIVERGED, status="diverged", steps=9, nonfinite_at=7,
                                         message="non-finite loss at step 7", age=timedelta(minutes=30)))
    # The pid of the test process itself makes this run live.
    write_sample_run(runs_dir, SampleRun(RUNNING, status="running", steps=45, total_steps=150, pid=os.getpid(),
                                         host=current_host(), age=timedelta(minutes=10)))
    (tmp_path / "hub").mkdir()
    return AtlasConsole(runs_dir, clock=lambda: SAMPLE_TIME, poll_interval=0.1, monitor_interval=0.1,
                        hub_cache_dir=tmp_path / "hub")


async def until(pilot, condition, timeout=10.0):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting for the screen to fill"
        await pilot.pause(0.05)


async def runs_ready(pilot):
    await until(pilot, lambda: getattr(pilot.app.screen, "first_poll_done", False))


def open_monitor(run_id):
    async def run_before(pilot):
        await runs_ready(pilot)
        pilot.app.open_run(run_id)
        await until(pilot, lambda: isinstance(pilot.app.screen, MonitorScreen) and pilot.app.screen.view is not None)
        await until(pilot, lambda: len(pilot.app.screen.query_one("#log").lines) > 0)
        await until(pilot, lambda: pilot.app.screen.view.gate is not None)

    return run_before


@pytest.mark.parametrize("size", SIZES)
def test_runs_screen(snap_compare, app, size):
    assert snap_compare(app, terminal_size=size, run_before=runs_ready)


@pytest.mark.parametrize("size", SIZES)
def test_launch_screen(snap_compare, app, size):
    async def run_before(pilot):
        await runs_ready(pilot)
        await pilot.press("n")
        await until(pilot, lambda: pilot.app.focused is not None and pilot.app.focused.id == "overrides")
        for field in pilot.app.screen.query(Input):
            field.cursor_blink = False

    assert snap_compare(app, terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
def test_monitor_screen(snap_compare, app, size):
    assert snap_compare(app, terminal_size=size, run_before=open_monitor(PASSING))


@pytest.mark.parametrize("size", SIZES)
def test_monitor_running(snap_compare, app, size):
    assert snap_compare(app, terminal_size=size, run_before=open_monitor(RUNNING))


def test_monitor_diverged(snap_compare, app):
    assert snap_compare(app, terminal_size=(80, 24), run_before=open_monitor(DIVERGED))


@pytest.mark.parametrize("size", SIZES)
def test_gate_panel_failing(snap_compare, app, size):
    assert snap_compare(app, terminal_size=size, run_before=open_monitor(FAILING), press=["g"])


@pytest.mark.parametrize("size", SIZES)
def test_promote_screen(snap_compare, app, size):
    async def run_before(pilot):
        await open_monitor(PASSING)(pilot)
        await until(pilot, lambda: pilot.app.screen.view.gate is not None)
        await pilot.press("p")
        await until(pilot, lambda: pilot.app.focused is not None and pilot.app.focused.id == "promote-overrides")
        for field in pilot.app.screen.query(Input):
            field.cursor_blink = False

    assert snap_compare(app, terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
def test_compare_screen(snap_compare, app, size):
    async def run_before(pilot):
        await runs_ready(pilot)
        pilot.app.open_compare(PASSING)
        await until(pilot, lambda: getattr(pilot.app.screen, "comparison", None) is not None)

    assert snap_compare(app, terminal_size=size, run_before=run_before)
