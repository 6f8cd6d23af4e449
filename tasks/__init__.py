"""WHAT is learned: one module per task, each registered by name.

The task modules (and TensorFlow) load on first use of a name below, such as
`from tasklab.tasks import get_task`, and register every task, so `get_task(name)` and
`TASKS.names()` see them all. The models' options are declared with the config
(`core/model_options.py`), which validates them before TensorFlow loads.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = [
    "TASKS",
    "ClassificationTask",
    "ModelSpec",
    "RegressionTask",
    "Task",
    "get_task",
    "register_task",
]
_TASK_MODULES = (
    "image_classification",
    "keyword_spotting",
    "semantic_segmentation",
    "tabular",
    "text_classification",
)


def __getattr__(name: str) -> Any:
    if name not in __all__:
        raise AttributeError(f"module 'tasklab.tasks' has no attribute '{name}'")
    base = importlib.import_module("tasklab.tasks.base")
    for module in _TASK_MODULES:  # Importing a task module registers its task.
        importlib.import_module(f"tasklab.tasks.{module}")
    return getattr(base, name)
