"""Whether a run's trainer process is still alive, judged from its recorded pid and host."""

from __future__ import annotations

import os
import socket
from pathlib import Path


def current_host() -> str:
    return socket.gethostname()


def pid_alive(pid: int | None) -> bool:
    """Return True when `pid` names a live process on this machine (a zombie counts as dead)."""
    if not pid or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, but belongs to another user
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True  # no procfs (macOS): the signal check is all there is
    # The state letter follows the parenthesised command name, which may itself contain spaces.
    state = stat.rpartition(")")[2].split()[0]
    return state not in ("Z", "X")
