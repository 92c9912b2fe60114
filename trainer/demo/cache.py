"""Disk layout of built demo models, and the manifest that marks a build as complete.

Layout: `<root>/<key>/{teacher,student,manifest.json}`, where root defaults to
`${XDG_CACHE_HOME:-~/.cache}/atlas-console/demo` and the key names the profile, the seed and the
recipe version. The manifest is written last, so a directory without one is an unfinished build.
"""

import contextlib
import fcntl
import json
import logging
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

logger = logging.getLogger(__name__)

MANIFEST_NAME = "manifest.json"
TEACHER_NAME = "teacher"
STUDENT_NAME = "student"


def default_cache_root() -> Path:
    """Return `${XDG_CACHE_HOME:-~/.cache}/atlas-console/demo`."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "atlas-console" / "demo"


def cache_key(profile: str, seed: int, recipe_version: str) -> str:
    return f"{profile}-seed{seed}-recipe{recipe_version}"


def read_manifest(build_dir: Path) -> dict | None:
    """Return the manifest of a complete build, or None where the build is missing or unfinished."""
    path = build_dir / MANIFEST_NAME
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, json.JSONDecodeError) as error:
        # A manifest that cannot be read is treated as missing, so the models are rebuilt.
        logger.warning("ignoring unreadable demo manifest %s: %s", path, error)
        return None
    for name in (TEACHER_NAME, STUDENT_NAME):
        if not (build_dir / name / "config.json").is_file():
            return None
    return manifest


def write_manifest(build_dir: Path, manifest: dict) -> None:
    """Write the manifest atomically: readers see either no manifest or the whole of it."""
    handle, temp_name = tempfile.mkstemp(prefix=".manifest-", suffix=".json", dir=build_dir)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            json.dump(manifest, file, indent=2, sort_keys=True)
            file.write("\n")
            file.flush()
            os.fsync(file.fileno())
        os.replace(temp_name, build_dir / MANIFEST_NAME)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp_name)
        raise


def remove_manifest(build_dir: Path) -> None:
    """Mark a build as unfinished before it is rebuilt in place."""
    with contextlib.suppress(FileNotFoundError):
        (build_dir / MANIFEST_NAME).unlink()


@contextlib.contextmanager
def build_lock(build_dir: Path) -> Iterator[None]:
    """Hold an exclusive lock on `<build_dir>.lock`, so two processes never build one key at once.

    The lock file stays on disk after release; it is empty and reused by the next build.
    """
    build_dir.parent.mkdir(parents=True, exist_ok=True)
    lock_path = build_dir.with_name(build_dir.name + ".lock")
    with open(lock_path, "a", encoding="utf-8") as lock_file:
        fcntl.flock(lock_file.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock_file.fileno(), fcntl.LOCK_UN)
