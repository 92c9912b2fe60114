"""A resolved config beside another one: keys whose values differ come first, marked ≠."""

from __future__ import annotations

from typing import Any

from textual.widgets import DataTable

from gears import FIELDS, ResolvedConfig

DIFFERS = "≠"


def show_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:g}"
    if value == "":
        return "''"
    return str(value)


class ConfigTable(DataTable):
    DEFAULT_CSS = """
    ConfigTable { height: auto; max-height: 100%; }
    """

    def __init__(self, *, id: str | None = None, classes: str | None = None):
        super().__init__(id=id, classes=classes, cursor_type="row", zebra_stripes=True)
        self.differing: list[str] = []

    def show_configs(
        self,
        config: ResolvedConfig,
        other: ResolvedConfig | None,
        label: str,
        other_label: str,
        differing_only: bool = False,
    ) -> None:
        """Show `config` beside `other`; with `differing_only`, only keys whose values differ."""
        # Resolving runs on every keystroke; rebuilding ~50 rows only when something changed keeps typing smooth.
        table_state = (config.values, config.sources, other.values if other else None, label, other_label, differing_only)
        if table_state == getattr(self, "_table_drawn", None):
            return
        self._table_drawn = table_state
        self.clear(columns=True)
        self.add_columns("", "key", label, other_label, "set by")
        differing = {key for key, _, _ in config.diff(other)} if other is not None else set()
        self.differing = [f.name for f in FIELDS if f.name in differing]
        ordered = self.differing + ([] if differing_only else [f.name for f in FIELDS if f.name not in differing])
        for key in ordered:
            self.add_row(
                DIFFERS if key in differing else "",
                key,
                show_value(config.get(key)),
                show_value(other.get(key)) if other is not None else "",
                config.sources.get(key, "run record"),
                key=key,
            )
