"""Offline demo: a synthetic math task and a tiny teacher and student built locally from a seed.

Importing this package loads neither torch nor transformers; they load when a build starts.
"""

from trainer.demo.build import DemoModels, build_main, ensure_demo_models

__all__ = ["DemoModels", "build_main", "ensure_demo_models"]
