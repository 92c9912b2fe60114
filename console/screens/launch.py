"""The launch screen: pick a gear, models and data, check them, and start atlas-train."""

from __future__ import annotations

import shlex

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Checkbox, DataTable, Footer, Header, Input, Label, RadioButton, RadioSet, Static

from console.launcher import LaunchRequest
from console.models import DEMO_DATASET, DEMO_MODEL, default_choice
from console.preflight import PreflightResult, run_preflight
from console.widgets.config_table import ConfigTable
from gears import GEAR_NAMES, ConfigError, ResolvedConfig, gear_metadata, resolve

MODEL_FIELDS = ("student", "teacher", "dataset")
# The compact checkbox shows on and off by colour alone, so the label spells the state out too.
DEMO_LABEL = "demo preset {state}: tiny built-in models, synthetic data"


class LaunchScreen(Screen):
    """Resolves the chosen gear as you type, with the same loader and error texts as atlas-train."""

    BINDINGS = [
        Binding("escape", "back", "Runs"),
        Binding("ctrl+g", "launch", "Launch", priority=True),
        Binding("ctrl+r", "check_models", "Check models", priority=True),
        Binding("ctrl+t", "toggle_gear", "Other gear", priority=True),
        Binding("ctrl+o", "toggle_demo", "Demo preset", priority=True),
    ]

    class PreflightFinished(Message):
        """A model check finished; `key` identifies the choices it checked."""

        def __init__(self, result: PreflightResult, key: tuple):
            super().__init__()
            self.result = result
            self.key = key

    def __init__(self) -> None:
        super().__init__()
        self.gear = GEAR_NAMES[0]
        self.config: ResolvedConfig | None = None
        self.other_config: ResolvedConfig | None = None
        self.error: str | None = None
        self.preflight: PreflightResult | None = None
        self._preflight_key: tuple | None = None
        self._own_models = {"student": "", "teacher": "", "dataset": ""}
        self._ready = False

    def compose(self) -> ComposeResult:
        yield Header()
        with VerticalScroll(id="launch-form"):
            with Grid(id="launch-fields"):
                yield Label("gear")
                with RadioSet(id="gear", compact=True):
                    for name in GEAR_NAMES:
                        yield RadioButton(name, value=name == self.gear, id=f"gear-{name}")
                yield Label("preset")
                yield Checkbox(DEMO_LABEL.format(state="off"), id="demo", compact=True)
                yield Label("student")
                yield Input(id="student", compact=True, placeholder="model folder or Hugging Face id")
                yield Label("teacher")
                yield Input(id="teacher", compact=True, placeholder="model folder or Hugging Face id")
                yield Label("dataset")
                yield Input(id="dataset", compact=True, placeholder="gsm8k, a folder, a trace .jsonl or synthetic")
                yield Label("GPUs")
                yield Input(id="gpus", compact=True, placeholder="inherit CUDA_VISIBLE_DEVICES, or e.g. 0,1")
                yield Label("overrides")
                yield Input(id="overrides", compact=True, placeholder="key=value … e.g. max_steps=20 lmbda=0.5")
            yield Static("", id="validation")
            yield Static("", id="gear-description")
            yield ConfigTable(id="config")
            yield Static("models not checked yet: ctrl+r checks them", id="preflight-status")
            yield DataTable(id="preflight", cursor_type="row")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#preflight", DataTable).add_columns("check", "verdict", "message")
        base = resolve(self.gear)
        choice = default_choice(base, self.app.hub_cache_dir)
        self._own_models = {"student": base["student"], "teacher": base["teacher"], "dataset": base["dataset_name"]}
        self.query_one("#demo", Checkbox).value = choice.demo
        self._fill_models(choice.demo)
        self._ready = True
        self.resolve_config()
        self.query_one("#overrides", Input).focus()

    # --- resolving

    def _fill_models(self, demo: bool) -> None:
        self.query_one("#demo", Checkbox).label = DEMO_LABEL.format(state="on" if demo else "off")
        values = {"student": DEMO_MODEL, "teacher": DEMO_MODEL, "dataset": DEMO_DATASET} if demo else self._own_models
        for name in MODEL_FIELDS:
            field = self.query_one(f"#{name}", Input)
            with field.prevent(Input.Changed):
                field.value = values[name]
            field.disabled = demo

    def overrides(self) -> list[str]:
        """Return the override tokens; raise ConfigError for unbalanced quotes."""
        text = self.query_one("#overrides", Input).value
        try:
            tokens = shlex.split(text)
        except ValueError as error:
            raise ConfigError(f"invalid overrides {text!r}: {error}; quote values that contain spaces") from None
        gpus = self.query_one("#gpus", Input).value.strip()
        if gpus:
            tokens.append(f"cuda_visible_devices={gpus}")
        return tokens

    def flags(self) -> dict[str, str]:
        if self.demo:
            return {}
        values = {name: self.query_one(f"#{name}", Input).value.strip() for name in MODEL_FIELDS}
        flags = {"student": values["student"], "teacher": values["teacher"], "dataset_name": values["dataset"]}
        return {key: value for key, value in flags.items() if value}

    @property
    def demo(self) -> bool:
        return self.query_one("#demo", Checkbox).value

    def resolve_config(self) -> None:
        """Resolve this gear and the other with the form's values; show the error text if invalid."""
        other_gear = next(name for name in GEAR_NAMES if name != self.gear)
        validation = self.query_one("#validation", Static)
        try:
            overrides = self.overrides()
            self.config = resolve(self.gear, demo=self.demo, overrides=overrides, flags=self.flags())
        except ConfigError as error:
            self.config, self.error = None, str(error)
            validation.update(f"✗ {error}")
            validation.set_class(True, "-invalid")
            return
        self.error = None
        try:
            self.other_config = resolve(other_gear, demo=self.demo, overrides=overrides, flags=self.flags())
        except ConfigError:
            self.other_config = resolve(other_gear, demo=self.demo)
        label = self.gear + (" + demo" if self.demo else "")
        table = self.query_one("#config", ConfigTable)
        table.show_configs(self.config, self.other_config, self.gear, other_gear)
        validation.set_class(False, "-invalid")
        validation.update(
            f"✓ {label} resolves; {len(table.differing)} keys differ from {other_gear} (≠, listed first)"
        )
        description = gear_metadata(self.gear).get("description", "")
        steps = self.config["max_steps"]
        length = f"{steps} steps" if steps > 0 else f"{self.config['num_train_epochs']:g} epochs"
        self.query_one("#gear-description", Static).update(f"{self.gear}: {description} ({length})")

    @on(Input.Changed)
    def _field_changed(self, event: Input.Changed) -> None:
        if not self._ready:
            return
        if event.input.id in MODEL_FIELDS and not self.demo:
            self._own_models[event.input.id] = event.value
        self.resolve_config()

    @on(RadioSet.Changed, "#gear")
    def _gear_changed(self, event: RadioSet.Changed) -> None:
        self.gear = GEAR_NAMES[event.index]
        if self._ready:
            self.resolve_config()

    @on(Checkbox.Changed, "#demo")
    def _demo_changed(self, event: Checkbox.Changed) -> None:
        if not self._ready:
            return
        self._fill_models(event.value)
        self.resolve_config()

    # --- model check

    def _choice_key(self) -> tuple:
        return (self.gear, self.demo, tuple(sorted(self.flags().items())), self.query_one("#overrides", Input).value)

    def action_check_models(self) -> None:
        if self.config is None:
            self.notify(self.error or "the config does not resolve", title="fix the config first", severity="error")
            return
        self.query_one("#preflight-status", Static).update("checking models…")
        self.check_models(self.config["student"], self.config["teacher"], self.config, self._choice_key())

    @work(thread=True, exclusive=True, group="preflight")
    def check_models(self, student: str, teacher: str, config: ResolvedConfig, key: tuple) -> None:
        self.post_message(self.PreflightFinished(run_preflight(student, teacher, config), key))

    @on(PreflightFinished)
    def show_preflight(self, message: PreflightFinished) -> None:
        result = self.preflight = message.result
        self._preflight_key = message.key
        status = self.query_one("#preflight-status", Static)
        table = self.query_one("#preflight", DataTable)
        table.clear()
        for row in result.rows:
            table.add_row(row.check, row.verdict, row.message)

        warning = False
        if result.error:
            status.update(result.error)
        elif result.blocks_launch:
            status.update(f"✗ preflight found {len(result.blocking_rows)} error(s): launch is blocked until they are fixed")
        elif result.demo_not_built:
            status.update("! demo models not built yet: atlas-train builds them when the run starts, which takes a while")
            warning = True
        elif result.exit_code:
            status.update("! preflight passed with warnings: read them before launching")
            warning = True
        else:
            status.update("✓ preflight passed")

        status.set_class(result.blocks_launch, "-error")
        status.set_class(warning, "-warning")
        # The table sits below the config on a small terminal: bring the verdict into view.
        self.query_one("#launch-form", VerticalScroll).scroll_to_widget(status, top=True)
        severity = "information"
        if result.blocks_launch:
            severity = "error"
        elif warning or result.error:
            severity = "warning"
        self.notify(str(status.render()), title="model check", severity=severity)

    # --- actions

    def action_toggle_gear(self) -> None:
        other = next(name for name in GEAR_NAMES if name != self.gear)
        self.query_one(f"#gear-{other}", RadioButton).value = True

    def action_toggle_demo(self) -> None:
        checkbox = self.query_one("#demo", Checkbox)
        checkbox.value = not checkbox.value

    def action_back(self) -> None:
        self.app.pop_screen()

    def launch_request(self) -> LaunchRequest:
        flags = self.flags()
        return LaunchRequest(
            gear=self.gear,
            demo=self.demo,
            student=flags.get("student"),
            teacher=flags.get("teacher"),
            dataset_name=flags.get("dataset_name"),
            overrides=tuple(self.overrides()),
            cuda_visible_devices=self.query_one("#gpus", Input).value.strip(),
        )

    def action_launch(self) -> None:
        if self.config is None:
            self.notify(self.error or "the config does not resolve", title="cannot launch", severity="error", timeout=10)
            return
        if self.preflight is not None and self.preflight.blocks_launch and self._preflight_key == self._choice_key():
            first = self.preflight.blocking_rows[0]
            self.notify(
                f"{first.check}: {first.message}", title="preflight found errors: launch blocked", severity="error", timeout=10
            )
            return
        self.app.start_run(self.launch_request())
