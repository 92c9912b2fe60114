"""Parameter counts and dtypes from safetensors headers, without reading any tensor data.

A safetensors file starts with an 8-byte little-endian header length, then a JSON header that
maps each tensor name to its dtype, shape and byte offsets in the data section that follows.
"""

from __future__ import annotations

import json
import math
import struct
from dataclasses import dataclass, field
from pathlib import Path

INDEX_FILE = "model.safetensors.index.json"
SINGLE_FILE = "model.safetensors"

# A real header takes about 100 bytes per tensor, well under 1 MiB even for a 70B checkpoint. A
# larger length means a corrupt file, and the bound keeps it from making us read gigabytes.
MAX_HEADER_BYTES = 100 * 1024 * 1024

# safetensors dtype code -> (torch-style name, bytes per element)
DTYPES = {
    "BOOL": ("bool", 1),
    "U8": ("uint8", 1),
    "I8": ("int8", 1),
    "F8_E4M3": ("float8_e4m3fn", 1),
    "F8_E5M2": ("float8_e5m2", 1),
    "I16": ("int16", 2),
    "U16": ("uint16", 2),
    "F16": ("float16", 2),
    "BF16": ("bfloat16", 2),
    "I32": ("int32", 4),
    "U32": ("uint32", 4),
    "F32": ("float32", 4),
    "I64": ("int64", 8),
    "U64": ("uint64", 8),
    "F64": ("float64", 8),
}


class WeightsError(ValueError):
    """A weight file that is missing, truncated or not safetensors; the message names the file."""


@dataclass
class WeightsSummary:
    """Parameters per dtype over all weight files of one checkpoint."""

    dtype_params: dict[str, int]
    files: list[str] = field(default_factory=list)
    source: str = "safetensors headers"

    @property
    def param_count(self) -> int:
        return sum(self.dtype_params.values())

    @property
    def dtype(self) -> str | None:
        """The dtype with the most parameters."""
        if not self.dtype_params:
            return None
        return max(self.dtype_params.items(), key=lambda item: item[1])[0]


def read_weights(model_dir: Path) -> WeightsSummary | None:
    """Sum the headers of a checkpoint's safetensors files; None when it has none.

    A sharded checkpoint is read through its index, so stray files beside the shards (e.g. a
    `consolidated.safetensors`) are not counted twice.
    """
    index = model_dir / INDEX_FILE
    if index.is_file():
        files = [model_dir / name for name in shard_names(index)]
    elif (model_dir / SINGLE_FILE).exists():
        files = [model_dir / SINGLE_FILE]
    else:
        files = sorted(model_dir.glob("*.safetensors"))
    if not files:
        return None

    summary = WeightsSummary(dtype_params={})
    for path in files:
        if not path.is_file():
            # A dangling symlink in a Hugging Face cache snapshot is a shard whose download failed.
            raise WeightsError(f"weight file {path} is missing; download the checkpoint again")
        for name, count in count_parameters(read_header(path)).items():
            summary.dtype_params[name] = summary.dtype_params.get(name, 0) + count
        summary.files.append(path.name)
    return summary


def shard_names(index: Path) -> list[str]:
    """Return the shard file names that `model.safetensors.index.json` maps weights to."""
    try:
        table = json.loads(index.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise WeightsError(f"cannot read {index}: {error}; download the checkpoint again") from error
    weight_map = table.get("weight_map") if isinstance(table, dict) else None
    if not isinstance(weight_map, dict) or not weight_map:
        raise WeightsError(f"{index} has no weight_map; download the checkpoint again")
    return sorted(set(str(name) for name in weight_map.values()))


def read_header(path: Path) -> dict[str, dict]:
    """Read one file's JSON header and check that every tensor lies inside the file."""
    try:
        with open(path, "rb") as stream:
            prefix = stream.read(8)
            if len(prefix) < 8:
                raise WeightsError(f"{path} is too short to be a safetensors file ({len(prefix)} bytes)")
            (length,) = struct.unpack("<Q", prefix)
            size = path.stat().st_size
            if length > MAX_HEADER_BYTES or 8 + length > size:
                raise WeightsError(
                    f"{path} has an invalid safetensors header length ({length} bytes in a {size}-byte file); "
                    "the file is corrupt or not safetensors, download it again"
                )
            raw = stream.read(length)
    except OSError as error:
        raise WeightsError(f"cannot read {path}: {error.strerror}") from error

    try:
        header = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise WeightsError(f"{path} has a header that is not valid JSON ({error}); download it again") from error
    if not isinstance(header, dict):
        raise WeightsError(f"{path} has a header that is not a JSON object; download it again")

    data_bytes = size - 8 - length
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        offsets = entry.get("data_offsets") if isinstance(entry, dict) else None
        if not isinstance(offsets, list) or len(offsets) != 2 or offsets[1] > data_bytes:
            raise WeightsError(
                f"{path} is truncated or corrupt: tensor {name!r} ends past the file's {data_bytes} data bytes; "
                "download it again"
            )
    return header


def count_parameters(header: dict[str, dict]) -> dict[str, int]:
    """Count elements per dtype name in one header."""
    counts: dict[str, int] = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        code = entry.get("dtype")
        dtype_name = DTYPES.get(code, (str(code).lower(), 0))[0]
        counts[dtype_name] = counts.get(dtype_name, 0) + math.prod(entry.get("shape") or [])
    return counts
