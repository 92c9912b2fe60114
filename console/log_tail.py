"""Incremental reading of `trainer.log`: each poll returns only the lines added since the last."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

# On first open only the end of a long log is read (a few hundred lines): the panel shows a
# tail, not the history, and wrapping thousands of lines would delay the monitor's first frame.
INITIAL_BYTES = 16 * 1024


@dataclass
class LogTail:
    """Follows a growing text file; a last line without its newline waits for the next poll."""

    path: Path
    offset: int | None = None
    _pending: bytes = field(default=b"", repr=False)

    def poll(self) -> list[str]:
        try:
            with open(self.path, "rb") as stream:
                size = os.fstat(stream.fileno()).st_size
                skip_partial = False
                if self.offset is None:
                    self.offset = max(0, size - INITIAL_BYTES)
                    skip_partial = self.offset > 0
                elif size < self.offset:
                    self.offset, self._pending = 0, b""  # truncated or replaced
                stream.seek(self.offset)
                chunk = stream.read()
        except FileNotFoundError:
            return []
        self.offset += len(chunk)
        data = self._pending + chunk
        complete, newline, rest = data.rpartition(b"\n")
        if not newline:
            self._pending = data
            return []
        self._pending = rest
        lines = complete.decode("utf-8", errors="replace").split("\n")
        if skip_partial:
            lines = lines[1:]  # the read started mid-line
        # Progress bars redraw a line with carriage returns; only the last state is worth showing.
        return [line.rsplit("\r", 1)[-1] for line in lines]
