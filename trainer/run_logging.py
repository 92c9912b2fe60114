"""Log set-up for a run: every line carries the run id and reaches both stderr and trainer.log."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

FORMAT = "%(asctime)s %(levelname)s [%(run_id)s] %(name)s: %(message)s"


class _RunIdFilter(logging.Filter):
    def __init__(self, run_id: str):
        super().__init__()
        self.run_id = run_id

    def filter(self, record: logging.LogRecord) -> bool:
        record.run_id = self.run_id
        return True


def setup_run_logging(run_id: str, log_path: Path, to_file: bool = True) -> None:
    """Send INFO logs of the product to stderr and, with `to_file`, to `log_path`.

    The file handler is skipped when stderr already is that file, so no line is written twice.
    """
    root = logging.getLogger()
    root.setLevel(logging.WARNING)
    for name in ("trainer", "state", "__main__"):
        logging.getLogger(name).setLevel(logging.INFO)
    formatter = logging.Formatter(FORMAT, datefmt="%Y-%m-%d %H:%M:%S")
    run_filter = _RunIdFilter(run_id)
    for handler in list(root.handlers):
        root.removeHandler(handler)
    stderr_handler = logging.StreamHandler(sys.stderr)
    handlers: list[logging.Handler] = [stderr_handler]
    if to_file and not stderr_is(log_path):
        log_path.parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(log_path, encoding="utf-8"))
    for handler in handlers:
        handler.setFormatter(formatter)
        handler.addFilter(run_filter)
        root.addHandler(handler)


def stderr_is(path: Path) -> bool:
    """True when stderr is redirected into `path` (the console launches runs that way)."""
    try:
        stderr_stat = os.fstat(sys.stderr.fileno())
        file_stat = os.stat(path)
    except (OSError, ValueError):
        return False
    return (stderr_stat.st_dev, stderr_stat.st_ino) == (file_stat.st_dev, file_stat.st_ino)
