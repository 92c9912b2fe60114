"""One line with a run's status, coloured by kind: running, finished, failed, stopped, diverged."""

from __future__ import annotations

from textual.widgets import Static

from console.run_status import StatusLabel

KINDS = ("pending", "running", "finished", "failed", "stopped", "diverged", "lost")


class StatusLine(Static):
    DEFAULT_CSS = """
    StatusLine { height: auto; padding: 0 1; text-style: bold; }
    StatusLine.-running { color: $success; }
    StatusLine.-finished { color: $primary; }
    StatusLine.-failed, StatusLine.-lost, StatusLine.-diverged { color: $error; }
    StatusLine.-stopped, StatusLine.-pending { color: $warning; }
    """

    _status_drawn: tuple | None = None

    def show_status(self, label: StatusLabel, suffix: str = "") -> None:
        # Each update re-lays the screen out, so an unchanged status is not redrawn.
        if (label, suffix) == self._status_drawn:
            return
        self._status_drawn = (label, suffix)
        for kind in KINDS:
            self.set_class(kind == label.kind, f"-{kind}")
        self.update(label.detail + (f"  {suffix}" if suffix else ""))
