"""A titled panel of label/value rows (wall-clock, baseline comparison)."""

from __future__ import annotations

from rich.table import Table
from textual.widgets import Static


class KeyValues(Static):
    DEFAULT_CSS = """
    KeyValues { height: auto; border: round $secondary; padding: 0 1; }
    """

    def __init__(self, title: str, *, id: str | None = None, classes: str | None = None):
        super().__init__(id=id, classes=classes)
        self.border_title = title

    def show_rows(self, rows: list[tuple[str, str]]) -> None:
        # Each update re-lays the screen out, so unchanged rows are not redrawn.
        if rows == getattr(self, "_rows_drawn", None):
            return
        self._rows_drawn = rows
        table = Table.grid(padding=(0, 2))
        table.add_column(style="dim", no_wrap=True)
        table.add_column(no_wrap=True)
        for label, value in rows:
            table.add_row(label, value)
        self.update(table)
