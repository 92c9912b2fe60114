"""The home screen: every run in the runs folder, refreshed in the background."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Static
from textual.worker import get_current_worker

from console.run_status import STARTING, StatusLabel
from console.run_view import RunRow, build_row
from console import formatting

# The columns an 80-column terminal shows first are the ones to act on; gear is also in the run id.
COLUMNS = ("run", "status", "step", "loss", "eval loss", "gate", "age", "gear", "parent")
# Rows are posted at least this often while a first poll reads long metrics files, so the table
# fills in as runs are read rather than after the last one.
PARTIAL_POST_SECONDS = 0.25


@dataclass(frozen=True)
class RunsSnapshot:
    rows: tuple[RunRow, ...]
    complete: bool
    newly_lost: tuple[str, ...] = ()


class RunsScreen(Screen):
    """Lists runs; Enter opens one. Live runs found at start-up are followed like any other."""

    BINDINGS = [
        Binding("enter", "open_run", "Open", priority=True),
        Binding("n", "new_run", "New run"),
        Binding("c", "compare", "Compare"),
        Binding("r", "refresh", "Refresh"),
    ]

    class RunsPolled(Message):
        """A poll of the runs folder finished (or, on the first poll, made progress)."""

        def __init__(self, snapshot: RunsSnapshot):
            super().__init__()
            self.snapshot = snapshot

    def __init__(self) -> None:
        super().__init__()
        self._wake = threading.Event()
        self._paused = threading.Event()
        self._rows: dict[str, RunRow] = {}
        self._order: list[str] = []
        self.first_poll_done = False

    def compose(self) -> ComposeResult:
        yield Header()
        yield DataTable(id="runs", cursor_type="row", zebra_stripes=True)
        yield Static("reading runs…", id="run-detail")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#runs", DataTable).add_columns(*COLUMNS)
        self.sub_title = str(self.app.runs_dir)
        self.poll_runs()

    def on_unmount(self) -> None:
        # The cancelled poller may be sleeping; waking it lets its thread end now.
        self._wake.set()

    def on_screen_suspend(self) -> None:
        self._paused.set()

    def on_screen_resume(self) -> None:
        self._paused.clear()
        self._wake.set()

    # --- polling (worker thread)

    @work(thread=True, exclusive=True, group="runs-poll")
    def poll_runs(self) -> None:
        """Poll the runs folder every `poll_interval` seconds until the screen goes away."""
        app = self.app
        worker = get_current_worker()
        first = True
        while not worker.is_cancelled:
            if not self._paused.is_set() or first:
                self._poll_once(app, first)
                first = False
            self._wake.wait(app.poll_interval)
            self._wake.clear()

    def _poll_once(self, app, first: bool) -> None:
        app.launcher.reap()
        store = app.store
        now = app.clock()
        rows: list[RunRow] = []
        newly_lost = []
        last_post = time.monotonic()
        for run_id in store.run_ids():
            watch = store.watch(run_id)
            watch.poll()
            if watch.marked_lost:
                watch.marked_lost = False
                newly_lost.append(run_id)
            rows.append(build_row(watch, now))
            if first and time.monotonic() - last_post > PARTIAL_POST_SECONDS:
                self.post_message(self.RunsPolled(RunsSnapshot(tuple(_sorted(rows, store)), complete=False)))
                last_post = time.monotonic()
        listed = {row.run_id for row in rows}
        rows += [_pending_row(child, now) for child in app.launcher.pending() if child.run_id not in listed]
        self.post_message(self.RunsPolled(RunsSnapshot(tuple(_sorted(rows, store)), True, tuple(newly_lost))))

    # --- drawing (UI thread)

    @on(RunsPolled)
    def show_runs(self, message: RunsPolled) -> None:
        snapshot = message.snapshot
        unchanged = {row.run_id: row for row in snapshot.rows} == self._rows and not snapshot.newly_lost
        if unchanged and (self.first_poll_done or not snapshot.complete):
            return
        table = self.query_one("#runs", DataTable)
        order = [row.run_id for row in snapshot.rows]
        selected = self.selected_run_id()
        if order != self._order:
            table.clear()
            for row in snapshot.rows:
                table.add_row(*row.cells(), key=row.run_id)
            self._order = order
            if selected in order:
                table.move_cursor(row=order.index(selected))
        else:
            for row in snapshot.rows:
                old = self._rows.get(row.run_id)
                if old is None or old.cells() == row.cells():
                    continue
                for column_key, old_value, value in zip(table.columns, old.cells(), row.cells()):
                    if old_value != value:
                        table.update_cell(row.run_id, column_key, value)
        self._rows = {row.run_id: row for row in snapshot.rows}
        if snapshot.complete and not self.first_poll_done:
            self.first_poll_done = True
            self._report_start(snapshot)
        for run_id in snapshot.newly_lost:
            self.notify(f"run {run_id}: trainer process is gone; marked failed (lost)", severity="warning")
        self._show_detail()

    def _report_start(self, snapshot: RunsSnapshot) -> None:
        live = [row.run_id for row in snapshot.rows if row.alive]
        if live:
            self.notify(f"re-attached {len(live)} live run(s): {', '.join(live)}")

    @on(DataTable.RowHighlighted, "#runs")
    def _row_highlighted(self) -> None:
        self._show_detail()

    def _show_detail(self) -> None:
        detail = self.query_one("#run-detail", Static)
        run_id = self.selected_run_id()
        if not self._rows:
            detail.update(
                f"No runs in {self.app.runs_dir.resolve()} yet. Press n to launch one: the demo preset needs no "
                "downloads and runs on CPU."
                if self.first_poll_done
                else "reading runs…"
            )
            return
        row = self._rows.get(run_id or "")
        detail.update(f"{row.run_id}: {row.status.detail}" if row else "")

    def selected_run_id(self) -> str | None:
        table = self.query_one("#runs", DataTable)
        if table.row_count == 0:
            return None
        try:
            row_key, _ = table.coordinate_to_cell_key(table.cursor_coordinate)
        except Exception:  # the cursor points past a table that was just cleared
            return None
        return row_key.value

    # --- actions

    @on(DataTable.RowSelected, "#runs")
    def _row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_open_run()

    def action_open_run(self) -> None:
        run_id = self.selected_run_id()
        if run_id is None:
            self.notify("no run selected: press n to launch one", severity="warning")
            return
        self.app.open_run(run_id)

    def action_new_run(self) -> None:
        self.app.open_launch()

    def action_compare(self) -> None:
        run_id = self.selected_run_id()
        if run_id is None:
            self.notify("no run selected", severity="warning")
            return
        self.app.open_compare(run_id)

    def action_refresh(self) -> None:
        self._wake.set()


def _sorted(rows: list[RunRow], store) -> list[RunRow]:
    created = store.created_order()
    # Runs still waiting for their run.toml were launched just now: they go first.
    return sorted(rows, key=lambda row: created.get(row.run_id, (-1, 0.0, row.run_id)))


def _pending_row(child, now) -> RunRow:
    label = StatusLabel(STARTING, f"{STARTING}: pid {child.pid}, waiting for run.toml", "pending")
    return RunRow(
        child.run_id,
        child.gear + (" (demo)" if child.demo else ""),
        label,
        "",
        "",
        "",
        formatting.BLANK,
        child.parent or "",
        formatting.age(child.created_at, now),
        True,
    )
