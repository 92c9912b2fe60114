"""The run monitor: live charts, timing, baseline comparison, gate and log of one run."""

from __future__ import annotations

import threading

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Button, Footer, Header, RichLog
from textual.worker import get_current_worker

from console import formatting
from console.launcher import StopError
from console.log_tail import LogTail
from console.run_view import RunView, build_view, step_text
from console.screens.confirm import ConfirmScreen
from console.widgets.gate_panel import GatePanel
from console.widgets.key_values import KeyValues
from console.widgets.metric_chart import ChartLine, MetricChart
from console.widgets.status_line import StatusLine
from state.paths import RunPaths
from state.promotion import promotion_blockers, target_gear

LOG_LINES_KEPT = 2000
# An ended run changes only when resumed; it is re-read this much less often than a live one.
ENDED_POLL_FACTOR = 4


class MonitorScreen(Screen):
    """Follows one run; the stream is tailed incrementally, never re-read from the start."""

    BINDINGS = [
        Binding("escape", "back", "Runs"),
        Binding("s", "stop", "Stop"),
        Binding("p", "promote", "Promote"),
        Binding("g", "show_gate", "Gate"),
        Binding("l", "show_log", "Log"),
        Binding("c", "compare", "Compare"),
    ]

    class RunPolled(Message):
        """A poll of the run finished: a new view and the log lines added since the last poll."""

        def __init__(self, view: RunView, log_lines: list[str]):
            super().__init__()
            self.view = view
            self.log_lines = log_lines

    class StopEscalated(Message):
        """A stopped run ignored SIGTERM for `stop_timeout` seconds; SIGKILL is being sent."""

    class StopFinished(Message):
        """A stop ended or could not start; `text` describes the outcome."""

        def __init__(self, text: str, severity: str):
            super().__init__()
            self.text = text
            self.severity = severity

    def __init__(self, run_id: str):
        super().__init__()
        self.run_id = run_id
        self.view: RunView | None = None
        self.polls = 0
        self._wake = threading.Event()
        self._chart_columns = 160
        self._stopping = False

    def compose(self) -> ComposeResult:
        yield Header()
        yield StatusLine("reading run…", id="status")
        with VerticalScroll(id="panels"):
            with Grid(id="monitor-grid"):
                yield MetricChart("loss", id="loss-chart")
                yield MetricChart("grad_norm", log_y=True, id="grad-chart")
                yield KeyValues("Wall-clock", id="wall-clock")
                yield KeyValues("Baseline comparison", id="baseline")
                yield GatePanel(id="gate")
                yield RichLog(id="log", max_lines=LOG_LINES_KEPT, wrap=True, markup=False, highlight=False)
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = self.run_id
        self.query_one("#log", RichLog).border_title = "trainer.log"
        self.poll_run()

    def on_unmount(self) -> None:
        # The cancelled poller may be sleeping; waking it lets its thread end now.
        self._wake.set()

    def on_resize(self) -> None:
        self._chart_columns = self.query_one("#loss-chart", MetricChart).columns

    # --- polling (worker thread)

    @work(thread=True, exclusive=True, group="monitor-poll")
    def poll_run(self) -> None:
        """Tail the run until the screen closes: every `monitor_interval` seconds while it lives."""
        app = self.app
        worker = get_current_worker()
        watch = app.store.watch(self.run_id)
        log_tail = LogTail(RunPaths.of(app.runs_dir, self.run_id).log)
        last_version = None
        first = True
        while not worker.is_cancelled:
            app.launcher.reap()
            watch.poll()
            if first:
                # Draw the charts before the gate of a long run is evaluated.
                self.post_message(self.RunPolled(build_view(watch, self._chart_columns, with_gate=False), log_tail.poll()))
                first = False
            view = build_view(watch, self._chart_columns)
            log_lines = log_tail.poll()
            # Redrawing unchanged charts costs the UI thread for nothing, so quiet polls post nothing.
            if view.version != last_version or log_lines:
                self.post_message(self.RunPolled(view, log_lines))
                last_version = view.version
            interval = app.monitor_interval if view.alive or view.record is None else app.monitor_interval * ENDED_POLL_FACTOR
            self._wake.wait(interval)
            self._wake.clear()

    # --- drawing (UI thread)

    @on(RunPolled)
    def show_run(self, message: RunPolled) -> None:
        view = self.view = message.view
        self.polls += 1
        progress = f"step {step_text(view.step, view.total_steps)}"
        if view.alive and view.wall_clock.eta is not None:
            progress += f"  ETA {formatting.duration(view.wall_clock.eta)}"
        if view.skipped_lines:
            progress += f"  ({view.skipped_lines} unreadable metrics lines skipped)"
        self.query_one("#status", StatusLine).show_status(view.status, progress)
        self._show_charts(view)
        self._show_numbers(view)
        self._show_gate(view)
        if message.log_lines:
            # One plain Text per poll: brackets in a trainer's output are not read as markup, and
            # one write of 2,000 lines took 0.24 s against 0.55 s for 2,000 writes (2-core VM).
            self.query_one("#log", RichLog).write(Text("\n".join(message.log_lines[-LOG_LINES_KEPT:])))

    def _show_charts(self, view: RunView) -> None:
        charts = view.charts
        self.query_one("#loss-chart", MetricChart).show_lines(
            [
                ChartLine("train loss", charts.loss, "cyan"),
                ChartLine("eval loss", charts.eval_loss, "yellow", marker="dot"),
            ]
        )
        self.query_one("#grad-chart", MetricChart).show_lines(
            [ChartLine("grad_norm", charts.grad_norm, "magenta")],
            bound=view.grad_norm_bound,
            bound_label="gate bound",
        )

    def _show_numbers(self, view: RunView) -> None:
        wall = view.wall_clock
        rows = [
            ("run time", formatting.duration(wall.elapsed)),
            ("steps/s", formatting.rate(wall.steps_per_second)),
            ("ETA", formatting.duration(wall.eta) if view.alive else formatting.BLANK),
        ]
        if wall.tokens_per_second is not None:
            rows.append(("tokens/s", formatting.rate(wall.tokens_per_second)))
        if wall.step_time is not None:
            rows.append(("step time", f"{wall.step_time:.3g} s"))
        if wall.generation_share is not None:
            rows.append(("generation", f"{wall.generation_share:.0%} of run time, the rest in updates and evaluation"))
        self.query_one("#wall-clock", KeyValues).show_rows(rows)

        base = view.baseline
        evaluated = f" (step {base.evaluated_step})" if base.evaluated_step is not None else ""
        self.query_one("#baseline", KeyValues).show_rows(
            [
                ("baseline accuracy", formatting.percent(base.baseline_accuracy)),
                ("latest accuracy", formatting.percent(base.latest_accuracy) + evaluated),
                ("success delta", formatting.points(base.success_delta)),
                ("token reduction", formatting.percent(base.token_reduction)),
                ("cap-hit rate", formatting.percent(base.cap_hit_rate)),
                ("teacher accuracy", formatting.percent(base.teacher_accuracy)),
            ]
        )

    def _show_gate(self, view: RunView) -> None:
        gate = view.gate
        blockers = promotion_blockers(view.record, gate)
        target = target_gear(view.record) if view.record else "reliability"
        if gate is None:
            note = "gate: waiting for the run record"
        elif gate.passed and target is None:
            note = f"gate: pass ({view.record.gear} runs are not promoted further)"
        elif gate.passed:
            note = "gate: pass — press p to promote" if not blockers else "gate: pass"
        else:
            failed = len(gate.failures)
            note = f"gate: fail ({failed} of {len(gate.criteria)} criteria)"
            if view.record is not None and not view.record.ended:
                note += " — the verdict is final once the run ends"
        self.query_one("#gate", GatePanel).show_gate(gate, note, target, promotable=not blockers)

    # --- actions

    def action_back(self) -> None:
        self.app.pop_screen()

    def action_show_gate(self) -> None:
        self.query_one("#panels", VerticalScroll).scroll_to_widget(self.query_one("#gate"), top=True)
        button = self.query_one("#promote", Button)
        if not button.disabled:
            button.focus()

    def action_show_log(self) -> None:
        log = self.query_one("#log", RichLog)
        self.query_one("#panels", VerticalScroll).scroll_to_widget(log, top=True)
        log.focus()

    def action_compare(self) -> None:
        self.app.open_compare(self.run_id)

    @on(Button.Pressed, "#promote")
    def _promote_pressed(self) -> None:
        self.action_promote()

    def action_promote(self) -> None:
        view = self.view
        record = view.record if view else None
        blockers = promotion_blockers(record, view.gate if view else None)
        if blockers:
            self.notify("\n".join(blockers), title=f"{self.run_id} cannot be promoted", severity="warning", timeout=10)
            return
        self.app.open_promotion(record)

    def action_stop(self) -> None:
        view = self.view
        if view is None or view.record is None:
            self.notify("the run has not written run.toml yet: try again in a moment", severity="warning")
            return
        if not view.alive:
            self.notify(f"run {self.run_id} is not running ({view.status.text})", severity="warning")
            return
        if self._stopping:
            self.notify(f"run {self.run_id} is already stopping", severity="warning")
            return
        timeout = self.app.stop_timeout
        question = f"Stop run {self.run_id}?"
        detail = f"Sends SIGTERM to its process group; SIGKILL follows after {timeout:g} s without a clean stop."

        def answered(confirmed: bool | None) -> None:
            if confirmed:
                self._stopping = True
                self.notify(f"stopping {self.run_id}…")
                self.stop_run(view.record)

        self.app.push_screen(ConfirmScreen(question, detail), answered)

    @work(thread=True, group="stop")
    def stop_run(self, record) -> None:
        """Stop the run and wait for it (in a worker: the wait can last `stop_timeout` seconds)."""
        app = self.app
        paths = RunPaths.of(app.runs_dir, record.id)

        try:
            outcome = app.launcher.stop(
                paths, record, timeout=app.stop_timeout, on_escalate=lambda: self.post_message(self.StopEscalated())
            )
        except StopError as error:
            self.post_message(self.StopFinished(str(error), "error"))
            return
        severity = "warning" if outcome.killed else "information"
        self.post_message(self.StopFinished(f"{record.id}: {outcome.status} ({outcome.message})", severity))
        self._wake.set()

    @on(StopEscalated)
    def _stop_escalated(self) -> None:
        self.notify(f"{self.run_id}: no clean stop after {self.app.stop_timeout:g} s; sending SIGKILL", severity="warning")

    @on(StopFinished)
    def _stop_finished(self, message: StopFinished) -> None:
        self._stopping = False
        self.notify(message.text, severity=message.severity)
