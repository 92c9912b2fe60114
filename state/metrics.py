"""The metrics stream (`metrics.jsonl`): one JSON object per event, appended as it happens.

Every line carries `kind`, `step` and `time` (seconds of run time since the run started).
Non-finite floats are written as the tokens NaN, Infinity and -Infinity, which Python's json
module writes and reads. They are kept because a NaN loss is the evidence of divergence.
"""

from __future__ import annotations

import json
import math
import os
import time as _time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from state.tail import LineTail

TRAIN = "train"
EVAL = "eval"
BASELINE = "baseline"
FINAL = "final"
TEACHER = "teacher"
STATUS = "status"
DATA = "data"
WARNING = "warning"
KINDS = (TRAIN, EVAL, BASELINE, FINAL, TEACHER, STATUS, DATA, WARNING)
# Lines that carry an evaluation of the student.
EVALUATION_KINDS = (BASELINE, EVAL, FINAL)


class MetricsWriter:
    """Appends events to `metrics.jsonl`, flushing each line so a reader sees it at once.

    `time_offset` carries the run time already spent before a resume, so `time` keeps growing.
    Each line is flushed to the OS (it survives a killed process); status lines are also fsynced
    (they survive a machine crash).
    """

    def __init__(self, path: Path, time_offset: float = 0.0):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._start = _time.monotonic() - time_offset
        self._file = open(self.path, "a", encoding="utf-8")
        if self._file.tell() > 0:
            self._terminate_partial_line()

    def elapsed(self) -> float:
        return _time.monotonic() - self._start

    def write(self, kind: str, step: int, **values: Any) -> dict[str, Any]:
        if kind not in KINDS:
            raise ValueError(f"invalid metrics kind {kind!r}: use one of {', '.join(KINDS)}")
        event = {"kind": kind, "step": int(step), "time": round(self.elapsed(), 3), **values}
        self._file.write(json.dumps(event, allow_nan=True) + "\n")
        self._file.flush()
        if kind == STATUS:
            os.fsync(self._file.fileno())
        return event

    def close(self) -> None:
        if not self._file.closed:
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()

    def _terminate_partial_line(self) -> None:
        # A writer killed mid-line leaves a fragment; end it so the next event starts a fresh
        # line (readers skip the fragment as an unparsable line).
        with open(self.path, "rb") as existing:
            existing.seek(-1, os.SEEK_END)
            if existing.read(1) != b"\n":
                self._file.write("\n")
                self._file.flush()


def parse_line(line: str) -> dict[str, Any] | None:
    """Parse one line; return None for a blank, partial or corrupt line."""
    line = line.strip()
    if not line:
        return None
    try:
        event = json.loads(line)
    except json.JSONDecodeError:
        return None
    if not isinstance(event, dict) or "kind" not in event:
        return None
    return event


def read_metrics(path: Path) -> list[dict[str, Any]]:
    """Read every complete event of a metrics file (missing file = no events)."""
    try:
        text = Path(path).read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return []
    return [event for event in map(parse_line, text.splitlines()) if event is not None]


@dataclass
class MetricsTail:
    """Reads a growing metrics file incrementally: each `poll` returns only the new complete lines.

    A last line without its newline is held back until the writer finishes it, so a reader never
    sees half an event. Lines that still fail to parse are counted in `skipped`.
    """

    path: Path
    skipped: int = 0
    _lines: LineTail = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._lines = LineTail(self.path)

    @property
    def offset(self) -> int:
        """Bytes of the file read so far."""
        return self._lines.offset or 0

    def poll(self, max_bytes: int | None = None) -> list[dict[str, Any]]:
        lines = [raw for raw in self._lines.poll(max_bytes) if raw.strip()]
        if not lines:
            return []
        try:
            # One parse of the whole chunk is about twice as fast as a parse per line, which
            # matters when a console opens a run with 100,000 lines.
            events = json.loads(b"[" + b",".join(lines) + b"]")
            if all(isinstance(event, dict) and "kind" in event for event in events):
                return events
        except (json.JSONDecodeError, UnicodeDecodeError):
            pass
        events = []
        for raw in lines:
            event = parse_line(raw.decode("utf-8", errors="replace"))
            if event is None:
                self.skipped += 1
            else:
                events.append(event)
        return events


def is_finite_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def of_kind(events: Iterable[dict[str, Any]], *kinds: str) -> list[dict[str, Any]]:
    return [event for event in events if event.get("kind") in kinds]
