"""Incremental reading of `trainer.log`: each poll returns only the lines added since the last."""

from __future__ import annotations

from pathlib import Path

from state.tail import LineTail

# On first open only the end of a long log is read (a few hundred lines): the panel shows a
# tail, not the history, and wrapping thousands of lines would delay the monitor's first frame.
INITIAL_BYTES = 16 * 1024


class LogTail:
    """Reader for a growing text log that returns new lines, with progress-bar redraws collapsed."""

    def __init__(self, path: Path) -> None:
        self._lines = LineTail(Path(path), start_bytes=INITIAL_BYTES)

    def poll(self) -> list[str]:
        lines = [raw.decode("utf-8", errors="replace") for raw in self._lines.poll()]
        # Progress bars redraw a line with carriage returns; only the last state is worth showing.
        return [line.rsplit("\r", 1)[-1] for line in lines]
