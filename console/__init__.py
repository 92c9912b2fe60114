"""The atlas-console terminal app: pick a gear, launch the trainer, watch runs, gate and promote.

Imports Textual but never torch, transformers, trl, datasets or wandb, so it starts fast on a
login shell. It talks to the trainer only through the run directory (docs/run-directory.md).
"""
