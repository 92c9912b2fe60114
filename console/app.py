"""The atlas-console app: runs (home), launch, monitor, promotion and comparison screens.

Runs belong to their trainer processes, not to the console: quitting, a crash of the console or a
dropped SSH connection leaves them running, and the next console re-attaches to them.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
import threading
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

from textual.app import App
from textual.binding import Binding
from textual.screen import Screen

from console.launcher import DEFAULT_STOP_TIMEOUT, GpuBusyError, LaunchError, LaunchRequest, Launcher
from console.screens.confirm import ConfirmScreen
from console.screens.runs import RunsScreen
from console.store import RunStore
from state.paths import RUNS_DIR_ENV, resolve_runs_dir
from state.record import RunRecord

logger = logging.getLogger(__name__)

LOG_FILE = ".atlas-console.log"
# After SIGTERM or SIGHUP the console exits normally, restoring the terminal when there still is
# one. A terminal that vanished (a dropped SSH connection) can leave Textual's shutdown waiting on
# its threads, so the process is ended outright once this grace period has passed.
SIGNAL_EXIT_GRACE_SECONDS = 3.0


class AtlasConsole(App):
    """Keyboard-driven console for launching, watching, gating and promoting distillation runs."""

    CSS_PATH = "app.tcss"
    TITLE = "atlas-console"
    BINDINGS = [Binding("q", "quit", "Quit")]
    # Screens lay panels out in one column below 120 columns and side by side from there on.
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (120, "-wide")]

    def __init__(
        self,
        runs_dir: Path,
        *,
        clock: Callable[[], datetime] | None = None,
        launcher: Launcher | None = None,
        poll_interval: float = 1.0,
        monitor_interval: float = 0.5,
        stop_timeout: float = DEFAULT_STOP_TIMEOUT,
        hub_cache_dir: Path | None = None,
        handle_signals: bool = False,
    ):
        super().__init__()
        self.runs_dir = Path(runs_dir)
        self.clock = clock or (lambda: datetime.now(timezone.utc))
        self.store = RunStore(self.runs_dir)
        self.launcher = launcher or Launcher(self.runs_dir)
        self.poll_interval = poll_interval
        self.monitor_interval = monitor_interval
        self.stop_timeout = stop_timeout
        self.hub_cache_dir = hub_cache_dir
        self.exit_message: str | None = None
        self._handle_signals = handle_signals

    def get_default_screen(self) -> Screen:
        return RunsScreen()

    def on_mount(self) -> None:
        if self._handle_signals:
            loop = asyncio.get_running_loop()
            for signum in (signal.SIGTERM, signal.SIGHUP):
                loop.add_signal_handler(signum, self._exit_on_signal, signum)

    # --- leaving

    def action_quit(self) -> None:
        """Quit at once; live runs keep running and the exit message names them."""
        self.exit_message = self.continuing_runs_message()
        self.exit(message=self.exit_message)

    def _exit_on_signal(self, signum: int) -> None:
        name = signal.Signals(signum).name
        logger.info("received %s; exiting, runs continue", name)
        self.exit_message = self.continuing_runs_message() or f"atlas-console: received {name}"
        watchdog = threading.Timer(SIGNAL_EXIT_GRACE_SECONDS, os._exit, args=(128 + signum,))
        watchdog.daemon = True
        watchdog.start()
        self.exit(return_code=128 + signum, message=self.exit_message)

    def live_run_ids(self) -> list[str]:
        ids = [record.id for record in self.store.live_records()]
        ids += [child.run_id for child in self.launcher.pending() if child.run_id not in ids]
        return ids

    def continuing_runs_message(self) -> str | None:
        live = self.live_run_ids()
        if not live:
            return None
        return (
            f"atlas-console: {len(live)} run(s) continue in the background: {', '.join(live)}. "
            f"Run atlas-console --runs-dir {self.runs_dir} to watch them again."
        )

    # --- navigation
    # Screens past the runs screen are imported on first use: the monitor pulls in plotext, and
    # the first frame needs neither.

    def open_run(self, run_id: str) -> None:
        from console.screens.monitor import MonitorScreen

        self.push_screen(MonitorScreen(run_id))

    def open_launch(self) -> None:
        from console.screens.launch import LaunchScreen

        self.push_screen(LaunchScreen())

    def open_compare(self, run_id: str) -> None:
        from console.screens.compare import CompareScreen, NoPairError, find_pair

        try:
            diagnostic_id, reliability_id = find_pair(self.runs_dir, run_id)
        except NoPairError as error:
            self.notify(str(error), severity="warning")
            return
        self.push_screen(CompareScreen(diagnostic_id, reliability_id))

    def open_promotion(self, record: RunRecord) -> None:
        from console.screens.promote import PromoteScreen

        self.push_screen(PromoteScreen(record))

    # --- launching

    def start_run(self, request: LaunchRequest, share_gpus: bool = False) -> None:
        """Launch a trainer and open its monitor; ask before sharing GPUs with a live run."""
        try:
            launched = self.launcher.launch(request, self.store.live_records(), share_gpus=share_gpus)
        except GpuBusyError as busy:
            busy_run = busy.run_id
            question = f"GPUs {busy.devices} are in use by live run {busy_run}. Launch anyway?"

            def answered(share: bool | None) -> None:
                if share:
                    self.start_run(request, share_gpus=True)
                else:
                    self.notify(f"launch cancelled: GPUs in use by {busy_run}", severity="warning")

            self.push_screen(ConfirmScreen(question, "Two runs on one GPU compete for memory and time."), answered)
            return
        except LaunchError as error:
            self.notify(str(error), title="launch failed", severity="error", timeout=10)
            return
        self.notify(f"launched {launched.run_id} (pid {launched.pid})")
        while len(self.screen_stack) > 1:
            self.pop_screen()
        self.open_run(launched.run_id)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        allow_abbrev=False,
        prog="atlas-console",
        description=(
            "Terminal console for atlas-console distillation runs: pick a gear, check the teacher and "
            "student, launch atlas-train, watch it live, and promote a diagnostic run that passed its gate. "
            "Quitting never stops a run."
        ),
    )
    parser.add_argument(
        "--runs-dir",
        help=f"folder that holds one directory per run (default: ${RUNS_DIR_ENV}, else ./runs)",
    )
    parser.add_argument(
        "--stop-timeout",
        type=float,
        default=DEFAULT_STOP_TIMEOUT,
        metavar="SECONDS",
        help=f"seconds to wait for a stopped run to exit after SIGTERM before sending SIGKILL (default {DEFAULT_STOP_TIMEOUT:g})",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    runs_dir = resolve_runs_dir(args.runs_dir)
    try:
        runs_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        print(f"atlas-console: cannot create runs folder {runs_dir}: {error.strerror}; pass --runs-dir", file=sys.stderr)
        return 2
    _configure_logging(runs_dir / LOG_FILE)
    app = AtlasConsole(runs_dir, stop_timeout=args.stop_timeout, handle_signals=True)
    app.run()
    return app.return_code or 0


def _configure_logging(path: Path) -> None:
    # Log records must not reach the terminal, which Textual owns; they go to a file in the runs folder.
    try:
        handler: logging.Handler = logging.FileHandler(path, encoding="utf-8")
    except OSError:
        handler = logging.NullHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.INFO)


if __name__ == "__main__":
    raise SystemExit(main())
