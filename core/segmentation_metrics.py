"""Semantic segmentation metrics: IoU, Dice and pixel accuracy from per-image confusion matrices.

Every metric is a function of the pixel confusion matrix, so one matrix per
image is computed once and summed: over the split for the metrics, over the
images of each bootstrap resample for the intervals (the unit a segmentation
result is resampled by is the image, not the pixel, whose errors are
correlated within an image), and within an image for the per-image IoU that
the paired test compares. Pixels labelled `IGNORE` (255, as Pascal VOC marks
object borders) count for no metric. A class that neither the truth nor the
prediction holds has no IoU and is left out of the means, as Keras' `MeanIoU`
and `sklearn.metrics.jaccard_score` on the present labels do.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from tasklab.core.evaluate import BOOTSTRAP_RESAMPLES, Evaluation, percentile_interval

IGNORE = 255  # The mask value of pixels no metric counts (object borders, "void").
SEGMENTATION_METRICS = ("mean_iou", "pixel_accuracy", "mean_dice")


def image_confusions(
    y_true: np.ndarray, y_pred: np.ndarray, classes: int, ignore: int = IGNORE
) -> np.ndarray:
    """One pixel confusion matrix per image.

    Args:
        y_true: `(images, height, width)` true class indices, `ignore` where unlabelled.
        y_pred: predicted class indices, the same shape.
        classes: the number of classes.
        ignore: the label of pixels that are not counted.

    Returns:
        `(images, classes, classes)` counts: rows true classes, columns predicted.

    Raises:
        ValueError: for shapes that differ, or a label outside the classes (other
            than `ignore`).
    """
    y_true = np.asarray(y_true).astype(np.int64)
    y_pred = np.asarray(y_pred).astype(np.int64)
    if y_true.shape != y_pred.shape or y_true.ndim < 2:
        raise ValueError(
            f"Masks and predictions must have one shape (images, height, width). Received: "
            f"{y_true.shape} and {y_pred.shape}."
        )
    counted = y_true != ignore
    for name, values in (("true", y_true[counted]), ("predicted", y_pred)):
        if values.size and (values.min() < 0 or values.max() >= classes):
            raise ValueError(
                f"A {name} label is outside the {classes} classes (0..{classes - 1}, or "
                f"{ignore} to ignore a pixel): {int(values.min())}..{int(values.max())}."
            )
    images = len(y_true)
    flat_true = y_true.reshape(images, -1)
    flat_pred = y_pred.reshape(images, -1)
    # One bincount over (image, true, predicted) codes; ignored pixels get no code.
    image_index = np.broadcast_to(np.arange(images)[:, None], flat_true.shape)
    keep = counted.reshape(images, -1)
    codes = (image_index[keep] * classes + flat_true[keep]) * classes + flat_pred[keep]
    counts = np.bincount(codes, minlength=images * classes * classes)
    return counts.reshape(images, classes, classes)


def class_iou(confusion: np.ndarray) -> np.ndarray:
    """Per-class IoU `TP / (TP + FP + FN)` of `(..., classes, classes)` confusion matrices.

    Returns:
        `(..., classes)`; NaN for a class with no pixel in the truth or the prediction.
    """
    true_positives, union = _overlaps(confusion)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(union > 0, true_positives / np.maximum(union, 1), np.nan)


def class_dice(confusion: np.ndarray) -> np.ndarray:
    """Per-class Dice (F1) `2 TP / (2 TP + FP + FN)`; NaN for a class absent from both."""
    true_positives, union = _overlaps(confusion)
    denominator = union + true_positives
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denominator > 0, 2 * true_positives / np.maximum(denominator, 1), np.nan)


def pixel_accuracy(confusion: np.ndarray) -> np.ndarray:
    """The fraction of counted pixels predicted right (NaN when none is counted)."""
    total = confusion.sum(axis=(-2, -1))
    correct = np.trace(confusion, axis1=-2, axis2=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, correct / np.maximum(total, 1), np.nan)


def mean_over_classes(values: np.ndarray) -> np.ndarray:
    """The mean over the last axis, leaving out NaN (absent classes); NaN if all are absent."""
    present = ~np.isnan(values)
    counts = present.sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, np.where(present, values, 0).sum(axis=-1) / counts, np.nan)


def per_image_iou(confusions: np.ndarray) -> np.ndarray:
    """Each image's mean IoU over the classes it or its prediction holds (paired tests)."""
    return mean_over_classes(class_iou(confusions))


def split_metrics(confusion: np.ndarray) -> dict[str, np.ndarray]:
    """Mean IoU, pixel accuracy and mean Dice of summed `(..., classes, classes)` matrices."""
    return {
        "mean_iou": mean_over_classes(class_iou(confusion)),
        "pixel_accuracy": pixel_accuracy(confusion),
        "mean_dice": mean_over_classes(class_dice(confusion)),
    }


def evaluate_segmentation(
    y_true: np.ndarray,
    probabilities: np.ndarray,
    class_names: Sequence[str],
    seed: int,
    resamples: int = BOOTSTRAP_RESAMPLES,
) -> Evaluation:
    """Segmentation metrics with bootstrap intervals over images.

    Args:
        y_true: `(images, height, width)` true class masks (`IGNORE` where unlabelled).
        probabilities: `(images, height, width, classes)` per-pixel class probabilities.
        class_names: one name per class.
        seed: seeds the bootstrap.
        resamples: bootstrap resamples of the images.

    Returns:
        Mean IoU (primary), pixel accuracy and mean Dice with percentile 95%
        intervals; per class its IoU, Dice and true pixels; the pixel confusion
        matrix.
    """
    classes = len(class_names)
    predicted = np.asarray(probabilities).argmax(axis=-1)
    confusions = image_confusions(y_true, predicted, classes)
    total = confusions.sum(axis=0)
    values = split_metrics(total)
    iou, dice = class_iou(total), class_dice(total)
    return Evaluation(
        metrics={name: _finite_or_none(value) for name, value in values.items()},
        intervals=image_bootstrap_intervals(confusions, seed, resamples),
        per_class={
            name: {
                "iou": _finite_or_none(iou[i]),
                "dice": _finite_or_none(dice[i]),
                "support": int(total[i].sum()),
            }
            for i, name in enumerate(class_names)
        },
        confusion_matrix=total.tolist(),
        primary="mean_iou",
        higher_is_better=True,
    )


def image_bootstrap_intervals(
    confusions: np.ndarray, seed: int, resamples: int = BOOTSTRAP_RESAMPLES
) -> dict[str, list[float]]:
    """Percentile 95% intervals of the split metrics, resampling images with replacement.

    Args:
        confusions: `(images, classes, classes)` per-image confusion matrices.
        seed: seeds the resampling.
        resamples: number of resamples.

    Returns:
        Metric name -> `[low, high]`.
    """
    point = split_metrics(confusions.sum(axis=0))
    if len(confusions) < 2:  # One image cannot be resampled: its value is all there is.
        return {name: [float(point[name])] * 2 for name in SEGMENTATION_METRICS}
    images = (np.arange(len(confusions)),)
    intervals = {}
    for name in SEGMENTATION_METRICS:

        def statistic(rows: np.ndarray, axis: int = -1, name: str = name) -> np.ndarray:
            # `rows` holds image indices, `(..., images)`: sum each resample's matrices.
            chosen = confusions[np.asarray(rows, dtype=np.int64)]
            return split_metrics(chosen.sum(axis=axis - 2 if axis < 0 else axis))[name]

        value = float(point[name])
        intervals[name] = percentile_interval(
            images, statistic, value, seed, resamples, vectorized=True
        )
    return intervals


def _overlaps(confusion: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """True positives and union (TP + FP + FN) per class."""
    confusion = np.asarray(confusion, dtype=np.float64)
    true_positives = np.diagonal(confusion, axis1=-2, axis2=-1)
    union = confusion.sum(axis=-1) + confusion.sum(axis=-2) - true_positives
    return true_positives, union


def _finite_or_none(value: float) -> float | None:
    return None if np.isnan(value) else float(value)
