"""Turn a model reference (a directory, a Hugging Face model id, or 'demo') into a local folder."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from trainer.preflight import hub

logger = logging.getLogger(__name__)

DEMO = "demo"
# The build that `trainer.demo.ensure_demo_models()` returns with its defaults.
DEMO_SEED = 0
DEMO_PROFILE = "full"
DEMO_BUILD_HINT = "demo models not built yet; run `atlas-train demo build`"


class ModelNotFoundError(ValueError):
    """A model reference that names no usable folder; the message names it and the fix."""


@dataclass(frozen=True)
class ModelLocation:
    """Folder of one model's files; `hub_id` is set for a model found in the Hub cache or on the Hub."""

    reference: str
    path: Path
    hub_id: str | None = None


def locate_model(reference: str, role: str) -> ModelLocation:
    """Find the folder of `reference` without building or loading anything."""
    if reference == DEMO:
        return ModelLocation(reference, demo_model_dir(role))

    path = check_local_reference(reference, role)
    if path is not None:
        return ModelLocation(reference, path)

    cached = hub.find_cached_snapshot(reference)
    if cached is not None:
        return ModelLocation(reference, cached, hub_id=reference)
    if hub.hub_offline():
        raise ModelNotFoundError(
            f"{role} {reference!r} is not a local directory and not in the Hugging Face cache "
            f"({hub.hub_cache_dir()}), and HF_HUB_OFFLINE=1 forbids fetching it: download it with "
            f"`hf download {reference}` where the Hub is reachable, or pass a local model directory"
        )
    logger.info("fetching config and tokenizer files of %s from the Hugging Face Hub", reference)
    try:
        return ModelLocation(reference, hub.download_small_files(reference), hub_id=reference)
    except hub.HubError as error:
        raise ModelNotFoundError(
            f"{role} {reference!r} is not a local directory, not in the Hugging Face cache ({hub.hub_cache_dir()}), "
            f"and fetching it from the Hub failed ({error}); check the model id and the network, "
            "or pass a local model directory"
        ) from error


def check_local_reference(reference: str, role: str) -> Path | None:
    """Return the model folder `reference` names, or None for a Hub id; raise when it is a bad path."""
    path = Path(reference).expanduser()
    if path.is_dir():
        return path
    if path.exists():
        raise ModelNotFoundError(f"{role} {reference!r} is a file, not a model directory; pass the folder that contains config.json")
    if not hub.looks_like_repo_id(reference) or reference.startswith((".", "/", "~")):
        raise ModelNotFoundError(f"{role} directory not found: {path}; pass an existing model folder or a Hugging Face model id")
    return None


def demo_model_dir(role: str) -> Path:
    """Return the folder of the demo build that training uses (seed 0, profile "full").

    Never builds one, because a build takes minutes; trainer.demo's cache layout and manifest
    rules decide whether a complete build exists.
    """
    # Imported here so that only `demo` references depend on the demo package's imports.
    from trainer.demo.cache import cache_key, default_cache_root, read_manifest
    from trainer.demo.profiles import RECIPE_VERSION

    build_dir = default_cache_root() / cache_key(DEMO_PROFILE, DEMO_SEED, RECIPE_VERSION)
    if read_manifest(build_dir) is None:
        raise ModelNotFoundError(f"{DEMO_BUILD_HINT} (no complete build in {build_dir})")
    return build_dir / role
