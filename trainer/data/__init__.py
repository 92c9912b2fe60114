"""Task data for a run: training prompts and held-out evaluation problems, validated."""

from trainer.data.examples import DataError, Example, TaskData
from trainer.data.loading import load_task

__all__ = ["DataError", "Example", "TaskData", "load_task"]
