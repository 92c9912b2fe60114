"""Model ids in the local Hugging Face cache, and the small files of one fetched from the Hub."""

from __future__ import annotations

import os
import re
from pathlib import Path

from trainer.preflight.safetensors_headers import DTYPES, WeightsSummary

# "org/name", or a bare legacy name such as "gpt2".
REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")

# Everything the check reads except the weights, whose headers are read on the Hub instead.
SMALL_FILES = [
    "config.json",
    "generation_config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "chat_template.jinja",
    "chat_template.json",
    "vocab.json",
    "merges.txt",
    "tokenizer.model",
    "model.safetensors.index.json",
]
# Seconds to wait for the Hub before reporting it unreachable.
HUB_TIMEOUT_S = 10


class HubError(RuntimeError):
    """The Hub could not be reached or has no such model."""


def hub_cache_dir() -> Path:
    """Return the Hugging Face hub cache, honouring the variables huggingface_hub reads."""
    for name in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"):
        if os.environ.get(name):
            return Path(os.environ[name]).expanduser()
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]).expanduser() / "hub"
    cache_home = os.environ.get("XDG_CACHE_HOME") or "~/.cache"
    return Path(cache_home).expanduser() / "huggingface" / "hub"


def hub_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().upper() in ("1", "ON", "YES", "TRUE")


def looks_like_repo_id(reference: str) -> bool:
    return bool(REPO_ID.match(reference)) and ".." not in reference


def find_cached_snapshot(repo_id: str) -> Path | None:
    """Return the cached snapshot of `repo_id` that refs/main names, else the newest one."""
    repo_dir = hub_cache_dir() / ("models--" + repo_id.replace("/", "--"))
    snapshots = repo_dir / "snapshots"
    if not snapshots.is_dir():
        return None
    main_ref = repo_dir / "refs" / "main"
    if main_ref.is_file():
        candidate = snapshots / main_ref.read_text(encoding="utf-8").strip()
        if candidate.is_dir():
            return candidate
    candidates = [path for path in snapshots.iterdir() if path.is_dir()]
    return max(candidates, key=lambda path: path.stat().st_mtime) if candidates else None


def download_small_files(repo_id: str) -> Path:
    """Fetch the config and tokenizer files of `repo_id` into the cache; return the snapshot folder."""
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(repo_id, allow_patterns=SMALL_FILES, etag_timeout=HUB_TIMEOUT_S))
    # The Hub client raises OSError subclasses, its own HTTP errors and its HTTP library's errors.
    except Exception as error:
        raise HubError(f"{type(error).__name__}: {error}") from error


def fetch_weights_summary(repo_id: str) -> WeightsSummary:
    """Read the safetensors headers of `repo_id` on the Hub (HTTP range requests, no weights)."""
    from huggingface_hub import HfApi

    try:
        metadata = HfApi().get_safetensors_metadata(repo_id, timeout=HUB_TIMEOUT_S)
    except Exception as error:  # same variety of errors as in download_small_files
        raise HubError(f"{type(error).__name__}: {error}") from error
    counts: dict[str, int] = {}
    for code, count in metadata.parameter_count.items():
        name = DTYPES.get(code, (code.lower(), 0))[0]
        counts[name] = counts.get(name, 0) + int(count)
    return WeightsSummary(dtype_params=counts, files=sorted(metadata.files_metadata), source="Hub safetensors headers")
