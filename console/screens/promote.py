"""Confirmation of a promotion: the reliability run that Enter will start, and how its config differs."""

from __future__ import annotations

import shlex

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Header, Input, Static

from console.promotion import carried_flags, promoted_config, promotion_request, run_config
from console.widgets.config_table import ConfigTable
from console.widgets.key_values import KeyValues
from gears import ConfigError, ResolvedConfig
from state.promotion import target_gear
from state.record import RunRecord


class PromoteScreen(Screen):
    """Shows the promoted run; Enter launches it with --parent <diagnostic run id>."""

    BINDINGS = [
        Binding("enter", "launch", "Launch", priority=True),
        Binding("escape", "cancel", "Cancel"),
    ]

    def __init__(self, record: RunRecord):
        super().__init__()
        self.record = record
        self.config: ResolvedConfig | None = None
        self.error: str | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        with VerticalScroll(id="promote-body"):
            yield Static("", id="promote-title")
            yield KeyValues("New run", id="promote-summary")
            yield Input(id="promote-overrides", compact=True, placeholder="extra key=value overrides for the new run (optional)")
            yield Static("", id="promote-validation")
            yield ConfigTable(id="promote-diff")
        yield Footer()

    def on_mount(self) -> None:
        record = self.record
        gear = target_gear(record) or "reliability"
        self.sub_title = f"promote {record.id}"
        self.query_one("#promote-title", Static).update(
            f"Promote {record.id} → a new {gear} run. Enter launches it, Esc cancels."
        )
        flags = carried_flags(record)
        config = record.config
        self.query_one("#promote-summary", KeyValues).show_rows(
            [
                ("gear", gear + (" + demo profile" if record.demo else "")),
                ("student", flags.get("student", config.get("student", "demo"))),
                ("teacher", flags.get("teacher", config.get("teacher", "demo"))),
                ("dataset", flags.get("dataset_name", config.get("dataset_name", "synthetic"))),
                ("parent", record.id),
            ]
        )
        self.resolve_config()
        self.query_one("#promote-overrides", Input).focus()

    def overrides(self) -> list[str]:
        text = self.query_one("#promote-overrides", Input).value
        try:
            return shlex.split(text)
        except ValueError as error:
            raise ConfigError(f"invalid overrides {text!r}: {error}; quote values that contain spaces") from None

    def resolve_config(self) -> None:
        validation = self.query_one("#promote-validation", Static)
        try:
            self.config = promoted_config(self.record, self.overrides())
        except ConfigError as error:
            self.config, self.error = None, str(error)
            validation.update(f"✗ {error}")
            validation.set_class(True, "-invalid")
            return
        self.error = None
        table = self.query_one("#promote-diff", ConfigTable)
        table.show_configs(self.config, run_config(self.record), self.config.gear, self.record.id, differing_only=True)
        validation.set_class(False, "-invalid")
        validation.update(f"{len(table.differing)} keys differ from {self.record.id}:")

    @on(Input.Changed, "#promote-overrides")
    def _overrides_changed(self) -> None:
        self.resolve_config()

    def action_launch(self) -> None:
        if self.config is None:
            self.notify(self.error or "the config does not resolve", title="cannot launch", severity="error", timeout=10)
            return
        self.app.start_run(promotion_request(self.record, self.overrides()))

    def action_cancel(self) -> None:
        self.app.pop_screen()
