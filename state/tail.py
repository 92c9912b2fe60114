"""Follow a file that another process appends to, one complete line at a time.

The metrics stream and the trainer log are both read this way. Each poll returns the lines
finished since the previous poll. A last line without its newline waits for the next poll, so a
reader never sees half of what the writer is still writing.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class LineTail:
    """Reader state for a growing file: the byte offset and the unfinished line read so far.

    With `start_bytes` set, the first poll reads only the last `start_bytes` bytes and drops the
    first line, which is probably cut. A file that shrinks was replaced or truncated, so it is
    read again from its start.
    """

    path: Path
    start_bytes: int | None = None
    offset: int | None = None
    _pending: bytes = field(default=b"", repr=False)
    _cut: bool = field(default=False, repr=False)

    def poll(self, max_bytes: int | None = None) -> list[bytes]:
        """Return the complete lines added since the last poll, without their newlines."""
        try:
            with open(self.path, "rb") as stream:
                size = os.fstat(stream.fileno()).st_size
                if self.offset is None:
                    self.offset = 0 if self.start_bytes is None else max(0, size - self.start_bytes)
                    self._cut = self.offset > 0
                elif size < self.offset:
                    self.offset, self._pending, self._cut = 0, b"", False
                stream.seek(self.offset)
                chunk = stream.read(max_bytes) if max_bytes else stream.read()
        except FileNotFoundError:
            return []
        self.offset += len(chunk)
        data = self._pending + chunk
        complete, newline, rest = data.rpartition(b"\n")
        if not newline:
            self._pending = data
            return []
        self._pending = rest
        lines = complete.split(b"\n")
        if self._cut:
            self._cut = False
            return lines[1:]
        return lines
