"""Rank, world size and collective helpers for runs that use several processes.

With one process every function here is a no-op, so single-process runs need no special case.
"""

from __future__ import annotations

import os
from typing import Any, Sequence, TypeVar

T = TypeVar("T")

# Set by the `atlas-train` process that starts `accelerate launch`; its pid is the run's pid.
LAUNCHER_PID_ENV = "ATLAS_LAUNCHER_PID"
# "1" when the launcher continues a stopped run, "0" when the ranks start a new one.
RESUMED_ENV = "ATLAS_LAUNCH_RESUMED"


def rank() -> int:
    return int(os.environ.get("RANK", "0"))


def world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def launched_by_atlas() -> bool:
    return LAUNCHER_PID_ENV in os.environ


def launch_is_resume() -> bool:
    return os.environ.get(RESUMED_ENV) == "1"


def _initialized() -> bool:
    import torch.distributed as dist

    return dist.is_available() and dist.is_initialized()


def gather_indexed(pairs: Sequence[tuple[int, T]]) -> list[T]:
    """Merge (index, value) pairs from every rank into one list ordered by index, on every rank."""
    merged = list(pairs)
    if world_size() > 1 and _initialized():
        import torch.distributed as dist

        parts: list[Any] = [None] * dist.get_world_size()
        dist.all_gather_object(parts, list(pairs))
        merged = [pair for part in parts for pair in part]
    return [value for _, value in sorted(merged, key=lambda pair: pair[0])]


def any_rank(flag: bool) -> bool:
    """True on every rank when `flag` is true on at least one rank."""
    if world_size() <= 1 or not _initialized():
        return flag
    import torch
    import torch.distributed as dist

    value = torch.tensor([1 if flag else 0], dtype=torch.int64)
    if dist.get_backend() == "nccl":
        value = value.cuda()
    dist.all_reduce(value, op=dist.ReduceOp.MAX)
    return bool(value.item())
