"""WHAT is learned: one module per task, each registered by name.

Importing this package registers every task, so `get_task(name)` and
`TASKS.names()` see them all.
"""

from tasks import image_classification  # noqa: F401  (registers the task)
from tasks.base import TASKS, ClassificationTask, ModelSpec, Task, get_task, register_task

__all__ = ["TASKS", "ClassificationTask", "ModelSpec", "Task", "get_task", "register_task"]
