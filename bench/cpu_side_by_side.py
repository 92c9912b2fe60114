"""Seconds per optimizer step of demo runs on CPU, alone and side by side, by torch thread count.

Starts `count` diagnostic demo runs at once as real `atlas-train` processes in a temporary runs
folder, each with OMP_NUM_THREADS set to `threads` (unset for "default": torch then uses one
thread per core). A run's step time is the median gap between its train events after step 5.

    python bench/cpu_side_by_side.py [--steps 40] [--cases default:1,default:2,1:1,1:2]

A case is THREADS:COUNT. The demo models must be built already (`atlas-train demo build`).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from state.metrics import TRAIN, read_metrics  # noqa: E402


def run_case(threads: str, count: int, steps: int, folder: Path) -> list[float]:
    """Start `count` runs together and return each run's median seconds per step."""
    env = dict(os.environ, HF_HUB_OFFLINE="1", WANDB_MODE="disabled")
    env.pop("OMP_NUM_THREADS", None)
    if threads != "default":
        env["OMP_NUM_THREADS"] = threads
    runs_dir = folder / f"threads-{threads}-count-{count}"
    processes = []
    for index in range(count):
        command = [
            sys.executable, "-m", "trainer.cli", "--gear", "diagnostic", "--demo", "--runs-dir", str(runs_dir),
            "--run-id", f"run-{index}", f"max_steps={steps}", "eval_steps=0", "save_steps=100000", "report_to=none",
        ]
        processes.append(subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    for index, process in enumerate(processes):
        if process.wait() != 0:
            log = (runs_dir / f"run-{index}" / "trainer.log").read_text(errors="replace")[-2000:]
            raise SystemExit(f"benchmark run {index} failed with exit code {process.returncode}:\n{log}")
    medians = []
    for index in range(count):
        times = [event["time"] for event in read_metrics(runs_dir / f"run-{index}" / "metrics.jsonl") if event["kind"] == TRAIN]
        gaps = [later - earlier for earlier, later in zip(times[5:], times[6:])]
        medians.append(statistics.median(gaps))
    return medians


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--cases", default="default:1,default:2,1:1,1:2")
    args = parser.parse_args()
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} at start")
    print("| torch threads per run | runs side by side | s/step (each run) | wall |")
    print("|---|---|---|---|")
    with tempfile.TemporaryDirectory() as temporary:
        for case in args.cases.split(","):
            threads, count = case.split(":")
            started = time.monotonic()
            medians = run_case(threads, int(count), args.steps, Path(temporary))
            cells = ", ".join(f"{median:.2f}" for median in medians)
            print(f"| {threads} | {count} | {cells} | {time.monotonic() - started:.0f} s |", flush=True)


if __name__ == "__main__":
    main()
