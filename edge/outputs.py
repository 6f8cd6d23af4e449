"""How a device reads a model's outputs, by the kind its bundle declares (`output.kind`).

The export writes `output.kind` from the task's problem (`probabilities` for a
classifier, `value` for a regressor); a new kind of output is one reader here.
Imports only numpy.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

# Classes shown per prediction, best first.
TOP_CLASSES = 3


def read_probabilities(outputs: np.ndarray, class_names: Sequence[str]) -> list[dict[str, Any]]:
    """One prediction per row of class probabilities: the top class and the best few.

    Args:
        outputs: `(inputs, classes)` probabilities.
        class_names: one name per class.

    Returns:
        Per input: `label`, `index`, `score` and `top` (class name -> probability).
    """
    predictions = []
    for row in outputs:
        top = np.argsort(row)[::-1][:TOP_CLASSES]
        predictions.append(
            {
                "label": class_names[int(top[0])],
                "index": int(top[0]),
                "score": float(row[top[0]]),
                "top": {class_names[int(i)]: float(row[i]) for i in top},
            }
        )
    return predictions


def read_values(outputs: np.ndarray, class_names: Sequence[str]) -> list[dict[str, Any]]:
    """One prediction per row holding a single value."""
    return [{"value": float(row[0])} for row in outputs]


OUTPUT_READERS: Mapping[str, Callable[[np.ndarray, Sequence[str]], list[dict[str, Any]]]] = {
    "probabilities": read_probabilities,
    "value": read_values,
}
# The kinds whose outputs are one score per class, named by the bundle's `class_names`.
PER_CLASS_OUTPUTS = ("probabilities",)
