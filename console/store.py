"""The runs the console follows: each run folder is tailed incrementally and its record re-read only when it changes."""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from console.run_model import RunModel
from state.gate import GateResult, evaluate_gate
from state.metrics import MetricsTail
from state.paths import RunIdError, RunPaths, validate_run_id
from state.process import current_host, pid_alive
from state.record import PENDING, RUNNING, RecordError, RunRecord, read_record
from state.runs import is_alive, mark_if_lost

logger = logging.getLogger(__name__)

# While a run is alive its gate is re-evaluated at most this often. The gate re-reads every train
# value, and the verdict is not final before the run ends anyway.
LIVE_GATE_INTERVAL = 5.0


@dataclass
class RunWatch:
    """One run folder: its record, its metrics tail and the model built from it. Thread-safe."""

    paths: RunPaths
    record: RunRecord | None = None
    record_error: str | None = None
    # Set when this console corrected the record to failed (lost); the UI reports it once.
    marked_lost: bool = False
    # Counts record re-reads, so a view can tell that the record changed.
    record_version: int = 0
    model: RunModel = field(default_factory=RunModel)
    lock: threading.RLock = field(default_factory=threading.RLock, repr=False)
    _tail: MetricsTail | None = field(default=None, repr=False)
    _record_stamp: tuple | None = field(default=None, repr=False)
    _gate: GateResult | None = field(default=None, repr=False)
    _gate_key: tuple | None = field(default=None, repr=False)
    _gate_time: float = field(default=0.0, repr=False)

    @property
    def run_id(self) -> str:
        return self.paths.run_id

    @property
    def skipped_lines(self) -> int:
        """Metrics lines that did not parse (a corrupt line, not a partial last one)."""
        return self._tail.skipped if self._tail else 0

    def poll(self) -> None:
        """Re-read the record if it changed, correct it if its trainer is gone, and tail new metrics."""
        with self.lock:
            self._refresh_record()
            if self._tail is None:
                self._tail = MetricsTail(self.paths.metrics)
            self.model.ingest(self._tail.poll())

    def alive(self) -> bool:
        with self.lock:
            return self.record is not None and self.record.status in (PENDING, RUNNING) and is_alive(self.record)

    def cached_gate(self) -> GateResult | None:
        """Return the last verdict evaluated, without evaluating."""
        with self.lock:
            return self._gate

    def gate(self) -> GateResult | None:
        """Return the gate verdict, re-evaluated when the stream or the status changed."""
        with self.lock:
            if self.record is None:
                return None
            key = (self.record.status, self.model.events_seen)
            if key == self._gate_key:
                return self._gate
            now = time.monotonic()
            live = not self.record.ended
            if live and self._gate is not None and now - self._gate_time < LIVE_GATE_INTERVAL:
                return self._gate
            self._gate = evaluate_gate(self.record, self.model.gate_events())
            self._gate_key, self._gate_time = key, now
            return self._gate

    def _refresh_record(self) -> None:
        try:
            stat = os.stat(self.paths.record)
        except FileNotFoundError:
            if self._record_stamp is not None:
                self.record_version += 1
            self.record, self.record_error, self._record_stamp = None, None, None
            return
        # An atomic rewrite replaces the inode, so the stamp changes even within one mtime tick.
        stamp = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
        if stamp != self._record_stamp:
            try:
                self.record, self.record_error = read_record(self.paths), None
            except RecordError as error:
                self.record, self.record_error = None, str(error)
            self._record_stamp = stamp
            self.record_version += 1
        self._correct_if_lost()

    def _correct_if_lost(self) -> None:
        record = self.record
        if record is None or record.status not in (PENDING, RUNNING) or record.pid is None:
            return
        if (record.host and record.host != current_host()) or pid_alive(record.pid):
            return
        # The trainer writes its final record before it exits, so a record read after the process
        # is gone is final: re-read it rather than trust the copy read before the check.
        try:
            fresh = read_record(self.paths)
        except RecordError as error:
            self.record_error = str(error)
            return
        self.record = mark_if_lost(self.paths, fresh)
        self.marked_lost = self.record.status != fresh.status
        self.record_version += 1
        self._record_stamp = None


class RunStore:
    """Every run folder under `runs_dir`, each followed by a `RunWatch`."""

    def __init__(self, runs_dir: Path):
        self.runs_dir = Path(runs_dir)
        self._watches: dict[str, RunWatch] = {}
        self._lock = threading.Lock()

    def watch(self, run_id: str) -> RunWatch:
        """Return the watch of `run_id`, creating it (nothing is read until it is polled)."""
        with self._lock:
            watch = self._watches.get(run_id)
            if watch is None:
                watch = RunWatch(RunPaths.of(self.runs_dir, run_id))
                self._watches[run_id] = watch
            return watch

    def poll_all(self) -> list[RunWatch]:
        """Poll every run folder that has a run.toml; return the watches, newest run first."""
        watches = []
        for run_id in self.run_ids():
            watch = self.watch(run_id)
            watch.poll()
            if watch.record is not None or watch.record_error is not None:
                watches.append(watch)
        watches.sort(key=_newest_first)
        return watches

    def live_records(self) -> list[RunRecord]:
        """Return the records of runs whose trainer is alive, as of their last poll."""
        with self._lock:
            watches = list(self._watches.values())
        return [watch.record for watch in watches if watch.record is not None and watch.alive()]

    def created_order(self) -> dict[str, tuple[int, float, str]]:
        """Return a sort key per followed run: newest first, unreadable records last."""
        with self._lock:
            watches = list(self._watches.values())
        return {watch.run_id: _newest_first(watch) for watch in watches}

    def run_ids(self) -> list[str]:
        """Return the folders under `runs_dir` that hold a run.toml."""
        try:
            children = list(os.scandir(self.runs_dir))
        except FileNotFoundError:
            return []
        run_ids = []
        for child in children:
            if child.name.startswith(".") or not child.is_dir():
                continue
            try:
                validate_run_id(child.name)
            except RunIdError:
                continue
            if os.path.exists(os.path.join(child.path, "run.toml")):
                run_ids.append(child.name)
        return run_ids


def _newest_first(watch: RunWatch) -> tuple[int, float, str]:
    if watch.record is None:
        return (1, 0.0, watch.run_id)
    return (0, -watch.record.created_at.timestamp(), watch.run_id)
