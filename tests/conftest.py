"""Shared fixtures: every test runs offline, on CPU, and writes only under a temporary folder."""

import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

REPO_ROOT = Path(__file__).resolve().parent.parent
GSM8K_DIR = REPO_ROOT.parent / "shared" / "data" / "gsm8k"

# The isolation must be in place before any library reads these variables, so it is set at import
# time rather than in a fixture.
_SANDBOX = Path(tempfile.mkdtemp(prefix="atlas-tests-"))
for _name in ("tmp", "hf", "wandb", "cache", "config"):
    (_SANDBOX / _name).mkdir()
os.environ.update(
    {
        "TMPDIR": str(_SANDBOX / "tmp"),
        "HF_HOME": str(_SANDBOX / "hf"),
        "HF_HUB_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "WANDB_DIR": str(_SANDBOX / "wandb"),
        "WANDB_CACHE_DIR": str(_SANDBOX / "wandb"),
        "WANDB_CONFIG_DIR": str(_SANDBOX / "config"),
        "WANDB_DATA_DIR": str(_SANDBOX / "wandb"),
        "XDG_CACHE_HOME": str(_SANDBOX / "cache"),
        "TRL_EXPERIMENTAL_SILENCE": "1",
        "TOKENIZERS_PARALLELISM": "false",
        "CUDA_VISIBLE_DEVICES": "",
    }
)
os.environ.pop("WANDB_API_KEY", None)
os.environ.pop("WANDB_MODE", None)
os.environ.pop("ATLAS_RUNS_DIR", None)
tempfile.tempdir = str(_SANDBOX / "tmp")


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config):
    shutil.rmtree(_SANDBOX, ignore_errors=True)


@pytest.fixture(scope="session")
def gsm8k_dir() -> Path:
    """Real GSM8K `main` splits; the test is skipped where they are not beside the checkout."""
    if not (GSM8K_DIR / "train.jsonl").is_file():
        pytest.skip(f"real GSM8K data not found at {GSM8K_DIR} (only CI and development machines have it)")
    return GSM8K_DIR


@pytest.fixture
def python_bin() -> str:
    return sys.executable


@pytest.fixture(scope="session")
def tiny_pair(tmp_path_factory) -> tuple[Path, Path]:
    """A tiny student and a larger tiny teacher sharing one chat tokenizer (random weights)."""
    from tiny_models import build_pair

    return build_pair(tmp_path_factory.mktemp("tiny-models"))


@pytest.fixture(scope="session")
def tiny_gsm8k(tmp_path_factory) -> Path:
    """A 16/8-row GSM8K-format folder of generated problems."""
    from tiny_models import write_gsm8k_folder

    return write_gsm8k_folder(tmp_path_factory.mktemp("gsm8k-small"))


def run_atlas_train(args, cwd: Path, timeout: float = 300.0):
    """Run `atlas-train` as a real subprocess and return the completed process."""
    import subprocess

    return subprocess.run(
        [sys.executable, "-m", "trainer.cli", *map(str, args)],
        cwd=cwd, capture_output=True, text=True, timeout=timeout,
    )
