"""Adapter from the trainer's preflight report to the rows the launch screen shows.

`trainer.preflight` is imported only when a check runs, inside a worker thread: it is torch-free
by contract, but it is not needed to draw the first frame.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from gears import ResolvedConfig

logger = logging.getLogger(__name__)

OK, WARNINGS, ERRORS = 0, 1, 2
ERROR = "error"
# `atlas-train --demo` builds the demo pair on first use, so the check's "not built yet" error
# does not stop a demo launch.
# NOTE: matched on the check's message text; a structured marker in the report would be sturdier.
DEMO_NOT_BUILT = "demo models not built yet"


@dataclass(frozen=True)
class PreflightRow:
    check: str
    verdict: str
    message: str


@dataclass(frozen=True)
class PreflightResult:
    """Rows and exit code (0 ok, 1 warnings, 2 errors); `error` is set when no check could run."""

    exit_code: int | None
    rows: tuple[PreflightRow, ...] = field(default_factory=tuple)
    error: str | None = None

    @property
    def blocking_rows(self) -> tuple[PreflightRow, ...]:
        """Errors that must be fixed before a launch (an unbuilt demo pair is not one)."""
        return tuple(row for row in self.rows if row.verdict == ERROR and not row.message.startswith(DEMO_NOT_BUILT))

    @property
    def demo_not_built(self) -> bool:
        return any(row.verdict == ERROR and row.message.startswith(DEMO_NOT_BUILT) for row in self.rows)

    @property
    def blocks_launch(self) -> bool:
        return self.exit_code is not None and self.exit_code >= ERRORS and bool(self.blocking_rows)


def run_preflight(student: str, teacher: str, config: ResolvedConfig) -> PreflightResult:
    """Run `trainer.preflight.check_pair`; report an import failure as "preflight unavailable"."""
    try:
        from trainer.preflight import check_pair
    except ImportError as error:
        return PreflightResult(None, error=f"preflight unavailable: {error}")
    try:
        report = check_pair(student, teacher, config)
    except Exception as error:  # a broken check must not take the console down with it
        logger.exception("preflight of %s / %s failed", student, teacher)
        return PreflightResult(None, error=f"preflight failed: {type(error).__name__}: {error}")
    return PreflightResult(int(report.exit_code), tuple(_row(item) for item in _items(report)))


def _items(report: Any) -> list[Any]:
    items = getattr(report, "rows", None)
    if items is None:
        items = getattr(report, "checks", ())
    return list(items)


def _row(item: Any) -> PreflightRow:
    if isinstance(item, dict):
        get = item.get
    else:
        def get(name: str, default: Any = None) -> Any:
            return getattr(item, name, default)
    name = get("name") or get("check") or get("title") or ""
    return PreflightRow(str(name), str(get("verdict", "")), str(get("message", "")))
