"""Shared fixtures: every test runs offline, on CPU, and writes only under a temporary folder."""

import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

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


@pytest.fixture
def gsm8k_dir() -> Path:
    """Real GSM8K `main` splits; the test is skipped where they are not beside the checkout."""
    if not (GSM8K_DIR / "train.jsonl").is_file():
        pytest.skip(f"real GSM8K data not found at {GSM8K_DIR} (only CI and development machines have it)")
    return GSM8K_DIR


@pytest.fixture
def python_bin() -> str:
    return sys.executable
