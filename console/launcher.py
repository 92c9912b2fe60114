"""Starting and stopping trainer processes; owned by the app so runs outlive any screen.

Trainers start in their own process session with stdin closed and output going to the run's
trainer.log, so quitting the console, a crash of it or a dropped SSH connection (SIGHUP to the
terminal's session) never reaches them.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Callable, Iterable

from state.paths import RunPaths, new_run_id
from state.process import current_host, pid_alive
from state.record import FAILED, PENDING, RUNNING, STOPPED, RecordError, RunRecord, read_record, update_record, utc_now, write_record

logger = logging.getLogger(__name__)

TRAINER_SCRIPT = "atlas-train"
# A stopped trainer saves a checkpoint and writes its record before it exits. On a large model
# the save alone can take tens of seconds, so the default wait before SIGKILL is generous.
DEFAULT_STOP_TIMEOUT = 60.0
# After SIGKILL the kernel ends the process at once; this only bounds the wait for that.
KILL_WAIT = 5.0


class LaunchError(RuntimeError):
    """A run that could not be started; the message gives the cause and the fix."""


class GpuBusyError(LaunchError):
    """The requested GPUs are in use by a live run."""

    def __init__(self, run_id: str, devices: str):
        self.run_id = run_id
        self.devices = devices
        super().__init__(
            f"GPUs {devices} are in use by live run {run_id}: stop it first, pick other GPUs, "
            "or launch anyway to share them"
        )


class StopError(RuntimeError):
    """A run that cannot be stopped from here."""


@dataclass(frozen=True)
class LaunchRequest:
    """A trainer launch; None for student/teacher/dataset_name keeps the gear's (or demo's) value."""

    gear: str
    demo: bool = False
    student: str | None = None
    teacher: str | None = None
    dataset_name: str | None = None
    overrides: tuple[str, ...] = ()
    parent: str | None = None
    # CUDA_VISIBLE_DEVICES for the trainer; '' inherits the console's environment.
    cuda_visible_devices: str = ""


@dataclass
class LaunchedRun:
    """A trainer started by this console."""

    run_id: str
    paths: RunPaths
    process: subprocess.Popen
    command: list[str]
    devices: str
    gear: str
    demo: bool = False
    parent: str | None = None
    created_at: datetime = field(default_factory=utc_now)

    @property
    def pid(self) -> int:
        return self.process.pid


@dataclass(frozen=True)
class StopOutcome:
    status: str
    message: str
    killed: bool


def device_set(value: str | None) -> frozenset[str] | None:
    """Parse CUDA_VISIBLE_DEVICES: None = every GPU (unset or 'all'), an empty set = none."""
    if value is None or value.strip().lower() == "all":
        return None
    return frozenset(part.strip() for part in value.split(",") if part.strip())


def devices_overlap(first: str | None, second: str | None) -> bool:
    a, b = device_set(first), device_set(second)
    if a == frozenset() or b == frozenset():
        return False
    if a is None or b is None:
        return True
    return bool(a & b)


def record_devices(record: RunRecord) -> str | None:
    """Return the GPUs a run uses, or None (all) when its record does not name them."""
    if record.cuda_visible_devices is not None:
        return record.cuda_visible_devices
    configured = record.config.get("cuda_visible_devices")
    return configured or None


class Launcher:
    """Starts trainers, reaps the ones that exit, and stops runs by process group."""

    def __init__(self, runs_dir: Path, trainer_command: list[str] | None = None):
        self.runs_dir = Path(runs_dir)
        self._trainer_command = trainer_command
        self._children: dict[str, LaunchedRun] = {}
        self._lock = threading.Lock()

    # --- starting

    def trainer_command(self) -> list[str]:
        """Return the command that runs atlas-train: the script beside this Python, on PATH, or `-m`."""
        if self._trainer_command is not None:
            return list(self._trainer_command)
        beside = Path(sys.executable).parent / TRAINER_SCRIPT
        if beside.is_file() and os.access(beside, os.X_OK):
            return [str(beside)]
        on_path = shutil.which(TRAINER_SCRIPT)
        if on_path:
            return [on_path]
        return [sys.executable, "-m", "trainer.cli"]

    def build_command(self, request: LaunchRequest, run_id: str) -> list[str]:
        command = self.trainer_command() + ["--gear", request.gear]
        if request.demo:
            command.append("--demo")
        command += ["--runs-dir", str(self.runs_dir.resolve()), "--run-id", run_id]
        if request.parent:
            command += ["--parent", request.parent]
        for flag, value in (
            ("--student", request.student),
            ("--teacher", request.teacher),
            ("--dataset-name", request.dataset_name),
        ):
            if value:
                command += [flag, value]
        command += list(request.overrides)
        return command

    def effective_devices(self, request: LaunchRequest) -> str:
        if request.cuda_visible_devices:
            return request.cuda_visible_devices
        inherited = os.environ.get("CUDA_VISIBLE_DEVICES")
        return "all" if inherited is None else inherited

    def find_gpu_conflict(self, request: LaunchRequest, live_records: Iterable[RunRecord]) -> tuple[str, str] | None:
        """Return (run id, its GPUs) of a live run using any of the requested GPUs, or None."""
        wanted = self.effective_devices(request)
        for record in live_records:
            devices = record_devices(record)
            if devices_overlap(wanted, devices):
                return record.id, devices or "all"
        for child in self.pending():
            if devices_overlap(wanted, child.devices):
                return child.run_id, child.devices
        return None

    def launch(
        self, request: LaunchRequest, live_records: Iterable[RunRecord] = (), *, share_gpus: bool = False
    ) -> LaunchedRun:
        """Start `atlas-train` for `request`; raise GpuBusyError when a live run uses its GPUs."""
        if not share_gpus:
            conflict = self.find_gpu_conflict(request, live_records)
            if conflict:
                raise GpuBusyError(*conflict)
        run_id = new_run_id(request.gear)
        env = {}
        if request.cuda_visible_devices:
            env["CUDA_VISIBLE_DEVICES"] = request.cuda_visible_devices
        launched = self.spawn(run_id, self.build_command(request, run_id), env, devices=self.effective_devices(request))
        launched.gear, launched.demo, launched.parent = request.gear, request.demo, request.parent
        logger.info("run %s: launched pid %s: %s", run_id, launched.pid, " ".join(launched.command))
        return launched

    def spawn(self, run_id: str, command: list[str], env: dict[str, str] | None = None, devices: str = "all") -> LaunchedRun:
        """Start `command` for run `run_id` in a new session, output into the run's trainer.log."""
        paths = RunPaths.of(self.runs_dir, run_id)
        try:
            paths.root.mkdir(parents=True, exist_ok=False)
        except FileExistsError as error:
            raise LaunchError(f"run folder {paths.root} already exists: pick another run id") from error
        child_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
        if command[:3] == [sys.executable, "-m", "trainer.cli"]:
            child_env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(_source_root()), child_env.get("PYTHONPATH")]))
        with open(paths.log, "ab") as log:
            try:
                process = subprocess.Popen(
                    command,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env=child_env,
                    start_new_session=True,
                    close_fds=True,
                )
            except OSError as error:
                raise LaunchError(f"cannot start {command[0]}: {error.strerror}; is atlas-console installed?") from error
        launched = LaunchedRun(run_id, paths, process, command, devices, gear=run_id.split("-", 1)[0])
        with self._lock:
            self._children[run_id] = launched
        return launched

    # --- children

    def pending(self) -> list[LaunchedRun]:
        """Return children that are alive but have not written run.toml yet."""
        with self._lock:
            children = list(self._children.values())
        return [child for child in children if child.process.poll() is None and not child.paths.record.exists()]

    def children(self) -> list[LaunchedRun]:
        with self._lock:
            return list(self._children.values())

    def reap(self) -> list[str]:
        """Collect exited children; record a failure for any that exited without recording its end."""
        with self._lock:
            exited = [child for child in self._children.values() if child.process.poll() is not None]
            for child in exited:
                del self._children[child.run_id]
        for child in exited:
            self._record_exit(child, child.process.returncode)
        return [child.run_id for child in exited]

    def _record_exit(self, child: LaunchedRun, exit_code: int) -> None:
        last_line = last_log_line(child.paths.log)
        message = f"trainer exited with code {exit_code}" + (f": {last_line}" if last_line else "")
        try:
            record = read_record(child.paths)
        except RecordError:
            record = None
        if record is None:
            logger.warning("run %s: trainer exited (code %s) before writing run.toml", child.run_id, exit_code)
            record = RunRecord(
                id=child.run_id,
                gear=child.gear,
                status=FAILED,
                parent=child.parent,
                demo=child.demo,
                pid=child.pid,
                host=current_host(),
                created_at=child.created_at,
                ended_at=utc_now(),
                exit_code=exit_code,
                message=message,
                command=child.command,
                cuda_visible_devices=child.devices,
            )
            write_record(child.paths, record)
        elif record.status in (PENDING, RUNNING):
            logger.warning("run %s: trainer exited (code %s) while its record still had status %s", child.run_id, exit_code, record.status)
            update_record(child.paths, status=FAILED, exit_code=exit_code, message=message, ended_at=utc_now())

    # --- stopping

    def stop(
        self,
        paths: RunPaths,
        record: RunRecord,
        timeout: float = DEFAULT_STOP_TIMEOUT,
        poll_interval: float = 0.2,
        on_escalate: Callable[[], None] | None = None,
    ) -> StopOutcome:
        """Send SIGTERM to the run's process group, wait for its end, and SIGKILL after `timeout` seconds."""
        if record.pid is None:
            raise StopError(f"run {record.id} has no pid in run.toml: nothing to stop")
        if record.host and record.host != current_host():
            raise StopError(f"run {record.id} runs on host {record.host}: stop it there")
        pid = record.pid
        logger.info("run %s: sending SIGTERM to pid %s", record.id, pid)
        _signal_run(pid, signal.SIGTERM)
        if self._wait_for_exit(pid, timeout, poll_interval):
            return self._outcome_after_exit(paths, record, killed=False)

        logger.warning("run %s: no clean stop after %g s; sending SIGKILL", record.id, timeout)
        if on_escalate is not None:
            on_escalate()
        _signal_run(pid, signal.SIGKILL)
        self._wait_for_exit(pid, KILL_WAIT, poll_interval)
        return self._outcome_after_exit(paths, record, killed=True, timeout=timeout)

    def _wait_for_exit(self, pid: int, timeout: float, poll_interval: float) -> bool:
        # pid_alive counts a zombie as gone, so this needs no reaping of its own.
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not pid_alive(pid):
                return True
            time.sleep(poll_interval)
        return not pid_alive(pid)

    def _outcome_after_exit(self, paths: RunPaths, record: RunRecord, killed: bool, timeout: float = 0.0) -> StopOutcome:
        try:
            fresh = read_record(paths)
        except RecordError:
            fresh = record
        # `failed` here was written by a watcher that saw the process vanish (lost, or an exit
        # code from SIGTERM) while the stop was in flight: the run was stopped on request.
        if fresh.ended and fresh.status != FAILED:
            return StopOutcome(fresh.status, fresh.message or fresh.status, killed)
        if killed:
            message = f"SIGKILL after {timeout:g} s without a clean stop"
        else:
            message = "SIGTERM; the trainer exited without recording its stop"
        try:
            update_record(paths, status=STOPPED, message=message, ended_at=utc_now())
        except RecordError as error:
            logger.warning("run %s: stopped, but its record cannot be updated: %s", record.id, error)
        return StopOutcome(STOPPED, message, killed)


def last_log_line(path: Path, max_bytes: int = 4096) -> str:
    """Return the last non-blank line of a log file, or '' when there is none."""
    try:
        with open(path, "rb") as stream:
            stream.seek(0, os.SEEK_END)
            size = stream.tell()
            stream.seek(max(0, size - max_bytes))
            tail = stream.read().decode("utf-8", errors="replace")
    except FileNotFoundError:
        return ""
    lines = [line.rsplit("\r", 1)[-1].strip() for line in tail.splitlines()]
    return next((line for line in reversed(lines) if line), "")


def _signal_run(pid: int, signum: int) -> None:
    # A trainer started with a new session leads its own process group, so the signal reaches
    # its workers too (accelerate, data loaders). A pid that leads no group (started some other
    # way) gets the signal alone rather than a group it merely belongs to.
    try:
        if os.getpgid(pid) == pid:
            os.killpg(pid, signum)
        else:
            os.kill(pid, signum)
    except ProcessLookupError:
        pass


def _source_root() -> Path:
    return Path(__file__).resolve().parent.parent
