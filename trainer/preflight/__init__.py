"""Preflight check of a student/teacher pair from config.json, tokenizer files and safetensors headers.

Imports neither torch nor transformers and loads no weights, so a check takes about a second.
"""

from trainer.preflight.gpu import GpuInfo, detect_gpu
from trainer.preflight.memory import MemoryEstimate, MemoryItem, ModelShape, RunShape, estimate_memory, judge_fit
from trainer.preflight.model_files import ModelFacts
from trainer.preflight.pair import check_pair
from trainer.preflight.render import build_renderable, render_report
from trainer.preflight.report import Check, PreflightReport

__all__ = [
    "Check",
    "GpuInfo",
    "MemoryEstimate",
    "MemoryItem",
    "ModelFacts",
    "ModelShape",
    "PreflightReport",
    "RunShape",
    "build_renderable",
    "check_pair",
    "detect_gpu",
    "estimate_memory",
    "judge_fit",
    "render_report",
]
