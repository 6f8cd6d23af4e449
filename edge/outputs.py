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


def class_palette(classes: int) -> np.ndarray:
    """One RGB colour per class, `(classes, 3)` uint8: black for class 0 (the background by
    convention), then well-separated hues (the report's overlays use the same)."""
    base = np.array(
        [
            [0, 0, 0],
            [230, 25, 75],
            [60, 180, 75],
            [255, 225, 25],
            [0, 130, 200],
            [245, 130, 48],
            [145, 30, 180],
            [70, 240, 240],
            [240, 50, 230],
            [210, 245, 60],
            [250, 190, 212],
            [0, 128, 128],
        ],
        dtype=np.uint8,
    )
    if classes <= len(base):
        return base[:classes]
    # Past the fixed colours, hues from a seeded generator: the same on every device.
    extra = np.random.default_rng(0).integers(40, 256, (classes - len(base), 3), dtype=np.uint8)
    return np.concatenate([base, extra])


def read_pixel_probabilities(
    outputs: np.ndarray, class_names: Sequence[str]
) -> list[dict[str, Any]]:
    """One mask per image of per-pixel class probabilities.

    Args:
        outputs: `(images, height, width, classes)` probabilities.
        class_names: one name per class.

    Returns:
        Per image: `mask` (`(height, width)` uint8 class indices, the most
        probable class per pixel), `classes` (class name -> fraction of the
        pixels, for the classes present, largest first) and `label` with
        `score`: the largest class other than class 0 (the background), or
        class 0 when nothing else is predicted, and its mean probability over its pixels.
    """
    predictions = []
    for probabilities in outputs:
        mask = probabilities.argmax(axis=-1).astype(np.uint8)
        counts = np.bincount(mask.reshape(-1), minlength=len(class_names))
        fractions = counts / mask.size
        present = [int(i) for i in np.argsort(-counts, kind="stable") if counts[i]]
        foreground = [i for i in present if i != 0]
        label = foreground[0] if foreground else 0
        region = mask == label
        predictions.append(
            {
                "label": class_names[label],
                "index": label,
                "score": float(probabilities[..., label][region].mean()),
                "classes": {class_names[i]: round(float(fractions[i]), 6) for i in present},
                "mask": mask,
            }
        )
    return predictions


OUTPUT_READERS: Mapping[str, Callable[[np.ndarray, Sequence[str]], list[dict[str, Any]]]] = {
    "probabilities": read_probabilities,
    "value": read_values,
    "pixel_probabilities": read_pixel_probabilities,
}
# The kinds whose outputs end in one score per class, named by the bundle's `class_names`.
PER_CLASS_OUTPUTS = ("probabilities", "pixel_probabilities")
