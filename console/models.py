"""Model availability on this machine, and the demo preset a fresh install launches with."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from gears import ResolvedConfig
from trainer.preflight.hub import hub_cache_dir

DEMO_MODEL = "demo"
DEMO_DATASET = "synthetic"


@dataclass(frozen=True)
class ModelChoice:
    """Student, teacher and dataset for a launch, and whether they are the demo preset."""

    demo: bool
    student: str
    teacher: str
    dataset_name: str



def model_available(name: str, cache_dir: Path | None = None) -> bool:
    """Return True for 'demo', a local model folder, or a model id present in the hub cache."""
    if not name:
        return False
    if name == DEMO_MODEL or Path(name).expanduser().is_dir():
        return True
    cache_dir = cache_dir or hub_cache_dir()
    return (cache_dir / f"models--{name.replace('/', '--')}").is_dir()


def default_choice(config: ResolvedConfig, cache_dir: Path | None = None) -> ModelChoice:
    """Pick the gear's own models when both are on this machine, else the demo preset."""
    student, teacher = config["student"], config["teacher"]
    if model_available(student, cache_dir) and model_available(teacher, cache_dir):
        return ModelChoice(False, student, teacher, config["dataset_name"])
    return ModelChoice(True, DEMO_MODEL, DEMO_MODEL, DEMO_DATASET)
