"""Runs outlive the console: quitting, SIGTERM or SIGHUP to the console leave trainers running; stop works."""

import os
import pty
import select
import signal
import sys
import time
from pathlib import Path

import pytest

from console.app import AtlasConsole
from console.launcher import LaunchRequest, Launcher
from console.screens.confirm import ConfirmScreen
from console.screens.monitor import MonitorScreen
from state.paths import RunPaths
from state.process import current_host, pid_alive
from state.record import FAILED, RUNNING, STOPPED, RunRecord, read_record, write_record

REPO_ROOT = Path(__file__).resolve().parent.parent
SIZE = (80, 24)

SLEEPER = "import time; time.sleep(60)"
# Records itself as running, then ignores SIGTERM: only SIGKILL ends it.
STUBBORN = """
import os, signal, sys, time
from state.paths import RunPaths
from state.process import current_host
from state.record import RunRecord, write_record
runs_dir, run_id = sys.argv[sys.argv.index("--runs-dir") + 1], sys.argv[sys.argv.index("--run-id") + 1]
signal.signal(signal.SIGTERM, signal.SIG_IGN)
write_record(RunPaths.of(runs_dir, run_id), RunRecord(id=run_id, gear="diagnostic", status="running", pid=os.getpid(), host=current_host()))
time.sleep(60)
"""
# Records itself as running and, on SIGTERM, as stopped: what the trainer does.
POLITE = STUBBORN.replace(
    "signal.signal(signal.SIGTERM, signal.SIG_IGN)",
    "from state.record import update_record, utc_now\n"
    "def stop(*_):\n"
    "    update_record(RunPaths.of(runs_dir, run_id), status='stopped', message='SIGTERM', ended_at=utc_now())\n"
    "    sys.exit(0)\n"
    "signal.signal(signal.SIGTERM, stop)",
)


@pytest.fixture
def runs_dir(tmp_path):
    path = tmp_path / "runs"
    path.mkdir()
    return path


@pytest.fixture
def spawned():
    """Kill every process group a test started, whatever the test left behind."""
    pids = []
    yield pids
    for pid in pids:
        try:
            os.killpg(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def launcher_for(runs_dir, script, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", str(REPO_ROOT))
    return Launcher(runs_dir, trainer_command=[sys.executable, "-c", script])


async def wait_for(pilot, condition, timeout=10.0):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await pilot.pause(0.05)


def wait_until(condition, timeout=10.0):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


# --- quitting


async def test_quit_leaves_run_alive(runs_dir, tmp_path, monkeypatch, spawned):
    launcher = launcher_for(runs_dir, POLITE, monkeypatch)
    app = AtlasConsole(runs_dir, launcher=launcher, poll_interval=0.1, hub_cache_dir=tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        launched = launcher.launch(LaunchRequest(gear="diagnostic", demo=True))
        spawned.append(launched.pid)
        await wait_for(pilot, lambda: launched.paths.record.exists() and app.live_run_ids() == [launched.run_id])
        await pilot.press("q")
    time.sleep(0.3)
    assert pid_alive(launched.pid)
    assert launched.run_id in app.exit_message
    assert read_record(launched.paths).status == RUNNING


def test_run_in_own_session(runs_dir, monkeypatch, spawned):
    launched = launcher_for(runs_dir, SLEEPER, monkeypatch).launch(LaunchRequest(gear="diagnostic"))
    spawned.append(launched.pid)
    assert os.getsid(launched.pid) == launched.pid
    assert os.getsid(launched.pid) != os.getsid(0)


def test_trainer_output_goes_to_log(runs_dir, monkeypatch, spawned):
    launcher = launcher_for(runs_dir, "print('hello from the trainer')", monkeypatch)
    launched = launcher.launch(LaunchRequest(gear="diagnostic"))
    spawned.append(launched.pid)
    launched.process.wait(10)
    assert launched.paths.log.read_text() == "hello from the trainer\n"


def test_env_sets_gpus_and_unbuffered(runs_dir, monkeypatch, spawned):
    script = "import os; print(os.environ['CUDA_VISIBLE_DEVICES'], os.environ['PYTHONUNBUFFERED'])"
    launched = launcher_for(runs_dir, script, monkeypatch).launch(LaunchRequest(gear="diagnostic", cuda_visible_devices="3"))
    spawned.append(launched.pid)
    launched.process.wait(10)
    assert launched.paths.log.read_text() == "3 1\n"


def test_exit_without_record_recorded_failed(runs_dir, monkeypatch, spawned):
    launcher = launcher_for(runs_dir, "import sys; print('ImportError: no module named trl'); sys.exit(3)", monkeypatch)
    launched = launcher.launch(LaunchRequest(gear="diagnostic", demo=True))
    spawned.append(launched.pid)
    launched.process.wait(10)
    assert launcher.reap() == [launched.run_id]
    record = read_record(launched.paths)
    assert record.status == FAILED
    assert record.exit_code == 3
    assert record.message == "trainer exited with code 3: ImportError: no module named trl"


# --- stopping


async def _ask_to_stop(pilot, app, launcher, spawned):
    """Launch a polite run, open its monitor and press s; return the run once the prompt shows."""
    launched = launcher.launch(LaunchRequest(gear="diagnostic", demo=True))
    spawned.append(launched.pid)
    app.open_run(launched.run_id)
    await wait_for(pilot, lambda: isinstance(app.screen, MonitorScreen) and app.screen.view is not None and app.screen.view.alive)
    await pilot.press("s")
    await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
    return launched


async def test_stop_key_stops_run(runs_dir, tmp_path, monkeypatch, spawned):
    launcher = launcher_for(runs_dir, POLITE, monkeypatch)
    app = AtlasConsole(runs_dir, launcher=launcher, poll_interval=0.1, monitor_interval=0.1, hub_cache_dir=tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        launched = await _ask_to_stop(pilot, app, launcher, spawned)
        await pilot.press("y")
        await wait_for(pilot, lambda: app.screen.view.record is not None and app.screen.view.record.status == STOPPED)
    assert read_record(launched.paths).message == "SIGTERM"
    assert not pid_alive(launched.pid)


async def test_stop_cancelled_keeps_run(runs_dir, tmp_path, monkeypatch, spawned):
    launcher = launcher_for(runs_dir, POLITE, monkeypatch)
    app = AtlasConsole(runs_dir, launcher=launcher, poll_interval=0.1, monitor_interval=0.1, hub_cache_dir=tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        launched = await _ask_to_stop(pilot, app, launcher, spawned)
        await pilot.press("n")
        await pilot.pause(0.3)
    assert pid_alive(launched.pid)


def test_stop_escalates_to_sigkill(runs_dir, monkeypatch, spawned):
    launcher = launcher_for(runs_dir, STUBBORN, monkeypatch)
    launched = launcher.launch(LaunchRequest(gear="diagnostic"))
    spawned.append(launched.pid)
    wait_until(launched.paths.record.exists)
    escalated = []
    outcome = launcher.stop(launched.paths, read_record(launched.paths), timeout=0.5, on_escalate=lambda: escalated.append(True))
    assert escalated == [True]
    assert outcome.killed is True
    assert read_record(launched.paths).status == STOPPED
    assert read_record(launched.paths).message == "SIGKILL after 0.5 s without a clean stop"


def test_stop_other_host_rejected(runs_dir):
    from console.launcher import StopError

    record = RunRecord(id="r", gear="diagnostic", status=RUNNING, pid=12345, host="another-host")
    with pytest.raises(StopError, match="runs on host another-host"):
        Launcher(runs_dir).stop(RunPaths.of(runs_dir, "r"), record)


# --- signals to the console (a real terminal)


def run_console_in_pty(runs_dir, env):
    """Start `python -m console` on a pseudo-terminal; return (pid, master fd)."""
    pid, fd = pty.fork()
    if pid == 0:
        os.chdir(REPO_ROOT)
        os.execve(sys.executable, [sys.executable, "-m", "console", "--runs-dir", str(runs_dir)], env)
    return pid, fd


def read_until(fd, needle: bytes, timeout: float) -> bytes:
    output = b""
    deadline = time.monotonic() + timeout
    while needle not in output and time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.1)
        if ready:
            try:
                output += os.read(fd, 65536)
            except OSError:
                break
    return output


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_console_signal_restores_terminal(runs_dir, monkeypatch, spawned, signum):
    launched = launcher_for(runs_dir, POLITE, monkeypatch).launch(LaunchRequest(gear="diagnostic", demo=True))
    spawned.append(launched.pid)
    wait_until(launched.paths.record.exists)
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "TERM": "xterm-256color", "COLUMNS": "80", "LINES": "24"}
    pid, fd = run_console_in_pty(runs_dir, env)
    try:
        assert b"\x1b[?1049h" in read_until(fd, b"\x1b[?1049h", timeout=20)  # entered the alternate screen
        time.sleep(1.0)
        os.kill(pid, signum)
        output = read_until(fd, b"continue in the background", timeout=10)
        _, status = os.waitpid(pid, 0)
    finally:
        os.close(fd)
    assert b"\x1b[?1049l" in output  # left the alternate screen: the terminal is restored
    assert launched.run_id.encode() in output.split(b"\x1b[?1049l")[-1]  # named after the restore
    assert os.waitstatus_to_exitcode(status) == 128 + signum
    assert pid_alive(launched.pid)


def test_console_exits_when_terminal_vanishes(runs_dir):
    """A dropped SSH connection: the terminal closes under the console, which must still exit."""
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "TERM": "xterm-256color", "COLUMNS": "80", "LINES": "24"}
    pid, fd = run_console_in_pty(runs_dir, env)
    read_until(fd, b"Quit", timeout=20)
    os.close(fd)  # the kernel sends SIGHUP to the session that the terminal belonged to
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        finished, _ = os.waitpid(pid, os.WNOHANG)
        if finished:
            break
        time.sleep(0.1)
    else:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        pytest.fail("the console was still running 10 s after its terminal closed")
