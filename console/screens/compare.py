"""The two-gear comparison of a diagnostic run and the reliability run promoted from it."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Static

from console.compare import HEADER, Comparison, build_comparison, export_path, to_markdown
from state.atomic import atomic_write_text
from state.paths import RunPaths
from state.runs import list_runs
from state.summary import read_summary

RELOAD_SECONDS = 2.0


class NoPairError(LookupError):
    """The run has no diagnostic run to be compared with."""


def find_pair(runs_dir, run_id: str) -> tuple[str, str | None]:
    """Return (diagnostic id, id of its newest promoted run or None) for either run of a pair."""
    entries = [entry for entry in list_runs(runs_dir) if entry.record is not None]
    by_id = {entry.record.id: entry.record for entry in entries}
    record = by_id.get(run_id)
    if record is not None and record.parent:
        return record.parent, run_id
    if record is not None and record.gear != "diagnostic":
        raise NoPairError(f"run {run_id} ({record.gear}) was not promoted from a diagnostic run: nothing to compare")
    # list_runs returns the newest run first, so the first child found is the latest promotion.
    child = next((entry.record.id for entry in entries if entry.record.parent == run_id), None)
    return run_id, child


class CompareScreen(Screen):
    """Metric | Gear 1 | Gear 2 from each run's summary.toml; a cell stays blank until its run ends."""

    BINDINGS = [
        Binding("escape", "back", "Back"),
        Binding("e", "export", "Export Markdown"),
    ]

    def __init__(self, diagnostic_id: str, reliability_id: str | None):
        super().__init__()
        self.diagnostic_id = diagnostic_id
        self.reliability_id = reliability_id
        self.comparison: Comparison | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("", id="compare-title")
        yield DataTable(id="compare", cursor_type="row", zebra_stripes=True)
        yield Static("", id="compare-note")
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = "two-gear comparison"
        self.query_one("#compare", DataTable).add_columns(*HEADER)
        self.query_one("#compare-title", Static).update(
            f"Gear 1: {self.diagnostic_id}\nGear 2: {self.reliability_id or '(no reliability run promoted from it yet)'}"
        )
        if not self.load_summaries():
            # A run writes summary.toml when it ends; until both have, look again now and then.
            self._reload_timer = self.set_interval(RELOAD_SECONDS, self._reload)

    def load_summaries(self) -> bool:
        """Read both summaries and fill the table; return True once both runs have one."""
        runs_dir = self.app.runs_dir
        diagnostic = read_summary(RunPaths.of(runs_dir, self.diagnostic_id))
        reliability = read_summary(RunPaths.of(runs_dir, self.reliability_id)) if self.reliability_id else None
        self.comparison = build_comparison(self.diagnostic_id, diagnostic, self.reliability_id, reliability)

        table = self.query_one("#compare", DataTable)
        table.clear()
        for row in self.comparison.rows:
            table.add_row(*row)
        notes = []
        if diagnostic is None:
            notes.append(f"{self.diagnostic_id} has no summary.toml yet (it is still running or never trained)")
        if self.reliability_id and reliability is None:
            notes.append(f"{self.reliability_id} has no summary.toml yet: its column fills in when it ends")
        notes.append("e exports this table as Markdown into the runs folder")
        self.query_one("#compare-note", Static).update("\n".join(notes))
        return diagnostic is not None and reliability is not None

    def _reload(self) -> None:
        if self.load_summaries():
            self._reload_timer.stop()

    def action_export(self) -> None:
        path = export_path(self.app.runs_dir, self.comparison)
        try:
            atomic_write_text(path, to_markdown(self.comparison))
        except OSError as error:
            self.notify(f"cannot write {path}: {error.strerror}", severity="error")
            return
        self.notify(f"wrote {path.resolve()}", title="exported")

    def action_back(self) -> None:
        self.app.pop_screen()
