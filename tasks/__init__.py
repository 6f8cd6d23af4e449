"""WHAT is learned: one module per task, each registered by name.

Importing this package registers every task, so `get_task(name)` and
`TASKS.names()` see them all.
"""

from tasks import (  # noqa: F401  (they register their tasks)
    image_classification,
    keyword_spotting,
    tabular,
    text_classification,
)
from tasks.base import (
    TASKS,
    ClassificationTask,
    ModelSpec,
    RegressionTask,
    Task,
    get_task,
    register_task,
)

__all__ = [
    "TASKS",
    "ClassificationTask",
    "ModelSpec",
    "RegressionTask",
    "Task",
    "get_task",
    "register_task",
]
