"""The GPU memory the estimate is compared with: nvidia-smi, else the driver's /proc files."""

from __future__ import annotations

import csv
import logging
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger(__name__)

MIB = 1024**2
GIB = 1024**3
NVIDIA_SMI_QUERY = ["--query-gpu=index,uuid,name,memory.total,memory.free", "--format=csv,noheader,nounits"]
# nvidia-smi returns in well under a second, and a hung driver must not hang the check.
NVIDIA_SMI_TIMEOUT_S = 5
PROC_GPUS = Path("/proc/driver/nvidia/gpus")


@dataclass(frozen=True)
class GpuInfo:
    """One device of the run; `total_bytes` is None when only the model name is known."""

    name: str
    total_bytes: int | None
    free_bytes: int | None = None
    count: int = 1
    source: str = ""

    @classmethod
    def from_gib(cls, total_gib: float, name: str = "GPU", source: str = "--gpu-memory-gib") -> "GpuInfo":
        return cls(name=name, total_bytes=int(total_gib * GIB), source=source)

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "total_bytes": self.total_bytes,
            "free_bytes": self.free_bytes,
            "count": self.count,
            "source": self.source,
        }


def detect_gpu(visible_devices: str | None = None) -> GpuInfo | None:
    """Return the smallest GPU the run may use, or None when none is found.

    Each training process keeps a full copy of both models, so the smallest visible GPU bounds
    the run. `visible_devices` is a CUDA_VISIBLE_DEVICES value; None reads the environment.
    """
    if visible_devices is None:
        visible_devices = os.environ.get("CUDA_VISIBLE_DEVICES")
    output = _run_nvidia_smi()
    if output is not None:
        gpus = select_visible(parse_nvidia_smi(output), visible_devices)
        if gpus:
            smallest = min(gpus, key=lambda gpu: gpu["total_bytes"])
            return GpuInfo(
                name=smallest["name"],
                total_bytes=smallest["total_bytes"],
                free_bytes=min(gpu["free_bytes"] for gpu in gpus),
                count=len(gpus),
                source="nvidia-smi",
            )
        return None

    names = [parse_proc_information(path.read_text(errors="replace")) for path in sorted(PROC_GPUS.glob("*/information"))]
    if names:
        # The driver's /proc files name the GPU model but not its memory size.
        return GpuInfo(name=names[0] or "NVIDIA GPU", total_bytes=None, count=len(names), source=str(PROC_GPUS))
    return None


def parse_nvidia_smi(output: str) -> list[dict]:
    """Parse `index, uuid, name, memory.total, memory.free` lines (MiB) into byte counts."""
    gpus = []
    for row in csv.reader(output.splitlines(), skipinitialspace=True):
        if len(row) != 5:
            continue
        index, uuid, name, total, free = (value.strip() for value in row)
        try:
            gpus.append(
                {"index": index, "uuid": uuid, "name": name, "total_bytes": int(float(total) * MIB), "free_bytes": int(float(free) * MIB)}
            )
        except ValueError:
            continue  # "[N/A]" memory on some virtualised GPUs
    return gpus


def select_visible(gpus: list[dict], visible_devices: str | None) -> list[dict]:
    """Keep the GPUs a CUDA_VISIBLE_DEVICES value lists by index or UUID (None or unset keeps all)."""
    if visible_devices is None:
        return gpus
    wanted = [entry.strip() for entry in visible_devices.split(",") if entry.strip()]
    return [gpu for gpu in gpus if gpu["index"] in wanted or any(gpu["uuid"].startswith(entry) for entry in wanted if entry.startswith("GPU-"))]


def parse_proc_information(text: str) -> str | None:
    """Return the `Model:` value of a /proc/driver/nvidia/gpus/*/information file."""
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "Model":
            return value.strip() or None
    return None


def _run_nvidia_smi() -> str | None:
    executable = shutil.which("nvidia-smi")
    if executable is None:
        return None
    try:
        result = subprocess.run(
            [executable, *NVIDIA_SMI_QUERY], capture_output=True, text=True, timeout=NVIDIA_SMI_TIMEOUT_S, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        logger.warning("nvidia-smi failed: %s", error)
        return None
    if result.returncode != 0:
        logger.warning("nvidia-smi exited with %d: %s", result.returncode, result.stderr.strip())
        return None
    return result.stdout
