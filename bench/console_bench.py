"""Console latency benchmark: first frame, opening a 100,000-step run, one chart refresh.

    python bench/console_bench.py [--repeats 5] [--no-tmux]

Prints a Markdown table. Goals: first frame ≤ 0.5 s, open ≤ 1 s, refresh cost independent of
the run's length. Every number is the median of `--repeats` runs on this machine.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from console.app import AtlasConsole  # noqa: E402
from console.run_model import RunModel  # noqa: E402
from console.sample_runs import SAMPLE_TIME, SampleRun, metrics_lines, write_sample_run  # noqa: E402
from console.screens.monitor import MonitorScreen  # noqa: E402
from console.screens.runs import RunsScreen  # noqa: E402
from console.store import RunStore  # noqa: E402
from console.widgets.metric_chart import ChartLine  # noqa: E402

LONG_RUN = "diagnostic-long"
LONG_STEPS = 100_000
# Chart refresh is measured at these lengths; past MinMaxSeries' 1,024 buckets the cost is flat.
REFRESH_STEPS = (100, 10_000, 100_000)


async def wait_until(pilot, condition, timeout=60.0) -> None:
    deadline = time.perf_counter() + timeout
    while not condition():
        if time.perf_counter() > deadline:
            raise TimeoutError("benchmark condition not met in time")
        await pilot.pause(0.005)


def first_frame_in_process(runs_dir: Path) -> float:
    """Seconds from App() to the runs screen mounted and its table drawn, inside one process."""

    async def measure() -> float:
        start = time.perf_counter()
        app = AtlasConsole(runs_dir, clock=lambda: SAMPLE_TIME)
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_until(pilot, lambda: isinstance(app.screen, RunsScreen) and app.screen.is_mounted)
            elapsed = time.perf_counter() - start
            await pilot.pause(0.1)  # let the header finish mounting before the app exits
            return elapsed

    return asyncio.run(measure())


def console_command() -> str:
    """Return the installed `atlas-console` script beside this Python, else `python -m console`."""
    script = Path(sys.executable).parent / "atlas-console"
    return str(script) if script.is_file() else f"{sys.executable} -m console"


def first_frame_tmux(runs_dir: Path, socket_dir: Path) -> float:
    """Seconds from starting the console in an 80×24 tmux window to the table header on screen."""
    # A fresh socket each time (a server just killed may still hold its socket), kept in the
    # benchmark's own folder so nothing is left behind.
    tmux = ["tmux", "-S", str(socket_dir / f"tmux-{time.monotonic_ns()}")]
    command = f"cd {REPO_ROOT} && exec {console_command()} --runs-dir {runs_dir}"
    start = time.perf_counter()
    subprocess.run([*tmux, "new-session", "-d", "-x", "80", "-y", "24", command], check=True)
    try:
        while time.perf_counter() - start < 30:
            screen = subprocess.run([*tmux, "capture-pane", "-p"], capture_output=True, text=True).stdout
            if "eval loss" in screen and "Quit" in screen:
                return time.perf_counter() - start
            time.sleep(0.005)
        raise TimeoutError("the console did not draw its first frame within 30 s")
    finally:
        subprocess.run([*tmux, "kill-server"], capture_output=True)


def open_long_run(runs_dir: Path, cold: bool) -> float:
    """Seconds from Enter on the runs screen to the monitor showing the 100,000-step run.

    `cold` drops what the runs screen already read, so the monitor parses the whole file itself.
    """

    async def measure() -> float:
        app = AtlasConsole(runs_dir, clock=lambda: SAMPLE_TIME)
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_until(pilot, lambda: getattr(app.screen, "first_poll_done", False))
            if cold:
                app.store = RunStore(runs_dir)
            start = time.perf_counter()
            await pilot.press("enter")
            await wait_until(pilot, lambda: isinstance(app.screen, MonitorScreen) and app.screen.view is not None)
            await pilot.pause()  # the first frame with data
            elapsed = time.perf_counter() - start
            await pilot.pause(0.1)
            return elapsed

    return asyncio.run(measure())


def chart_refresh(steps: int, repeats: int) -> tuple[float, float]:
    """Milliseconds for one refresh at `steps` points: (fold into columns, draw the loss chart)."""
    model = RunModel()
    model.ingest(event for event in metrics_lines(SampleRun("r", steps=steps, total_steps=steps)))

    async def measure() -> tuple[float, float]:
        app = AtlasConsole(Path(tempfile.mkdtemp()), clock=lambda: SAMPLE_TIME)
        async with app.run_test(size=(80, 24)) as pilot:
            app.push_screen(MonitorScreen("no-such-run"))
            await wait_until(pilot, lambda: isinstance(app.screen, MonitorScreen) and app.screen.view is not None)
            chart = app.screen.query_one("#loss-chart")
            fold, draw = [], []
            for _ in range(repeats):
                start = time.perf_counter()
                charts = model.charts(chart.columns)
                fold.append(time.perf_counter() - start)
                start = time.perf_counter()
                chart.show_lines([ChartLine("train loss", charts.loss, "cyan"), ChartLine("eval loss", charts.eval_loss, "yellow")])
                chart.render()
                draw.append(time.perf_counter() - start)
            await pilot.pause()
            return statistics.median(fold) * 1000, statistics.median(draw) * 1000

    return asyncio.run(measure())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="runs per measurement; the median is reported (default 5)")
    parser.add_argument("--no-tmux", action="store_true", help="skip the real-terminal first-frame measurement")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="console-bench-"))
    try:
        empty_runs = work / "empty"
        empty_runs.mkdir()
        long_runs = work / "long"
        build_start = time.perf_counter()
        write_sample_run(long_runs, SampleRun(LONG_RUN, steps=LONG_STEPS, total_steps=LONG_STEPS, eval_steps=1000))
        print(f"wrote a {LONG_STEPS:,}-step run in {time.perf_counter() - build_start:.1f} s", file=sys.stderr)

        rows = []
        if not args.no_tmux and shutil.which("tmux"):
            frame = statistics.median(first_frame_tmux(empty_runs, work) for _ in range(args.repeats))
            name = Path(console_command().split()[-1]).name if "-m" not in console_command() else "python -m console"
            rows.append((f"first frame, `{name}` in tmux 80×24 (process start → table drawn)", f"{frame:.3f} s", "≤ 0.5 s"))
        frame = statistics.median(first_frame_in_process(empty_runs) for _ in range(args.repeats))
        rows.append(("first frame, in process (App() → runs screen mounted)", f"{frame:.3f} s", "≤ 0.5 s"))
        warm = statistics.median(open_long_run(long_runs, cold=False) for _ in range(args.repeats))
        rows.append((f"open a {LONG_STEPS:,}-step run (already listed)", f"{warm:.3f} s", "≤ 1 s"))
        cold = statistics.median(open_long_run(long_runs, cold=True) for _ in range(args.repeats))
        rows.append((f"open a {LONG_STEPS:,}-step run (cold: parse the whole file)", f"{cold:.3f} s", "≤ 1 s"))
        for steps in REFRESH_STEPS:
            fold, draw = chart_refresh(steps, repeats=max(args.repeats, 20))
            rows.append((f"chart refresh at {steps:,} points: fold + draw", f"{fold:.2f} + {draw:.2f} ms", "independent of length"))
    finally:
        shutil.rmtree(work, ignore_errors=True)

    print(f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}; "
          f"median of {args.repeats} runs.\n")
    print("| measurement | result | goal |")
    print("|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
