"""Distillation engine: runs one gear of on-policy distillation and writes its run directory.

This package is the only one that imports torch, transformers and trl, and it does so only in the
modules that need them, so `trainer.answers`, `trainer.preflight` and `trainer.cli` stay light.
"""
