"""Held-out metrics with `sklearn.metrics`, and bootstrap intervals with `scipy.stats`."""

from __future__ import annotations

import dataclasses
import functools
import math
import warnings
from collections.abc import Callable, Sequence

import numpy as np
from scipy import stats
from sklearn import metrics as skm

CONFIDENCE = 0.95
BOOTSTRAP_RESAMPLES = 1000


@dataclasses.dataclass(frozen=True)
class Evaluation:
    """Metrics on one held-out split.

    Attributes:
        metrics: metric name -> value (None where a metric is undefined, e.g.
            ROC-AUC when the split lacks a class).
        intervals: metric name -> `[low, high]` bootstrap 95% interval.
        per_class: class name -> precision, recall, f1 and support (classification).
        confusion_matrix: rows are true classes, columns predicted classes
            (classification; empty for regression).
        primary: the metric models are ranked by.
        higher_is_better: the direction of `primary`.
    """

    metrics: dict[str, float | None]
    intervals: dict[str, list[float]]
    per_class: dict[str, dict[str, float]]
    confusion_matrix: list[list[int]]
    primary: str = "accuracy"
    higher_is_better: bool = True


def evaluate_classification(
    y_true: np.ndarray,
    probabilities: np.ndarray,
    class_names: Sequence[str],
    seed: int,
    resamples: int = BOOTSTRAP_RESAMPLES,
) -> Evaluation:
    """Computes classification metrics from predicted class probabilities.

    Args:
        y_true: true class index per example.
        probabilities: `(examples, classes)` predicted probabilities.
        class_names: one name per class.
        seed: seeds the bootstrap.
        resamples: bootstrap resamples for the intervals.

    Returns:
        Accuracy, macro-F1, one-vs-rest ROC-AUC and log loss, per-class
        precision/recall/F1, the confusion matrix, and percentile bootstrap
        intervals for accuracy and macro-F1.
    """
    labels = np.arange(len(class_names))
    y_true = np.asarray(y_true)
    probabilities = _normalized(probabilities)
    y_pred = probabilities.argmax(axis=1)
    precision, recall, f1, support = skm.precision_recall_fscore_support(
        y_true, y_pred, labels=labels, zero_division=0
    )

    macro_f1 = functools.partial(_macro_f1, classes=len(labels))
    return Evaluation(
        metrics={
            "accuracy": float(skm.accuracy_score(y_true, y_pred)),
            "macro_f1": float(
                skm.f1_score(y_true, y_pred, labels=labels, average="macro", zero_division=0)
            ),
            "roc_auc_ovr": _roc_auc(y_true, probabilities, labels),
            "log_loss": float(skm.log_loss(y_true, probabilities, labels=labels)),
        },
        intervals={
            "accuracy": bootstrap_interval(
                y_true, y_pred, _accuracy, seed, resamples, vectorized=True
            ),
            "macro_f1": bootstrap_interval(
                y_true, y_pred, macro_f1, seed, resamples, vectorized=True
            ),
        },
        per_class={
            name: {
                "precision": float(precision[i]),
                "recall": float(recall[i]),
                "f1": float(f1[i]),
                "support": int(support[i]),
            }
            for i, name in enumerate(class_names)
        },
        confusion_matrix=skm.confusion_matrix(y_true, y_pred, labels=labels).tolist(),
    )


def evaluate_regression(
    y_true: np.ndarray, y_pred: np.ndarray, seed: int, resamples: int = BOOTSTRAP_RESAMPLES
) -> Evaluation:
    """Computes RMSE, MAE and R^2 with percentile bootstrap 95% intervals.

    Args:
        y_true: true values.
        y_pred: predicted values (any shape with one value per example).
        seed: seeds the bootstrap.
        resamples: bootstrap resamples.

    Returns:
        The evaluation; RMSE is the primary metric (lower is better).
    """
    y_true = np.asarray(y_true, dtype=np.float64).ravel()
    y_pred = np.asarray(y_pred, dtype=np.float64).ravel()
    statistics = {"rmse": _rmse, "mae": skm.mean_absolute_error, "r2": skm.r2_score}
    # The same statistics over a batch of bootstrap resamples at once (checked against
    # sklearn's in the tests): a thousand sklearn calls per metric took seconds.
    batched = {"rmse": _batched_rmse, "mae": _batched_mae, "r2": _batched_r2}
    return Evaluation(
        metrics={name: float(fn(y_true, y_pred)) for name, fn in statistics.items()},
        intervals={
            name: bootstrap_interval(y_true, y_pred, fn, seed, resamples, vectorized=True)
            for name, fn in batched.items()
        },
        per_class={},
        confusion_matrix=[],
        primary="rmse",
        higher_is_better=False,
    )


def _rmse(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    return skm.root_mean_squared_error(y_true, y_pred)


def primary_score(metric: str, y_true: np.ndarray, outputs: np.ndarray) -> float:
    """Computes one primary metric from model outputs (no intervals): for CV folds.

    Args:
        metric: `accuracy` (outputs are class probabilities) or `rmse` (outputs are values).
        y_true: true labels or values.
        outputs: the model's outputs.

    Returns:
        The metric's value.
    """
    if metric == "accuracy":
        return float(skm.accuracy_score(y_true, np.asarray(outputs).argmax(axis=1)))
    if metric == "rmse":
        return float(_rmse(np.ravel(y_true), np.ravel(outputs)))
    raise ValueError(f"No primary score named '{metric}'; expected 'accuracy' or 'rmse'.")


def bootstrap_interval(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    statistic: Callable[[np.ndarray, np.ndarray], float],
    seed: int,
    resamples: int = BOOTSTRAP_RESAMPLES,
    vectorized: bool = False,
) -> list[float]:
    """Returns the percentile bootstrap 95% interval of a paired statistic.

    Examples are resampled with replacement (true and predicted labels
    together). When every resample gives the same value (e.g. a perfect
    score) the interval is that value.

    Args:
        y_true: true labels.
        y_pred: predicted labels.
        statistic: `statistic(y_true, y_pred) -> float`; with `vectorized`,
            it must also accept an `axis` keyword.
        seed: seeds the resampling.
        resamples: number of resamples.
        vectorized: whether `statistic` works on batches of resamples.

    Returns:
        `[low, high]`.
    """
    return percentile_interval(
        (y_true, y_pred), statistic, statistic(y_true, y_pred), seed, resamples, vectorized
    )


def percentile_interval(
    data: tuple[np.ndarray, ...],
    statistic: Callable[..., float],
    point: float,
    seed: int,
    resamples: int = BOOTSTRAP_RESAMPLES,
    vectorized: bool = False,
) -> list[float]:
    """The percentile bootstrap 95% interval of `statistic(*data)`, samples resampled together.

    Args:
        data: the paired samples (the same length each; one array for an unpaired statistic).
        statistic: `statistic(*data) -> float`; with `vectorized`, it must
            also accept an `axis` keyword.
        point: the statistic on the data itself: the interval where resampling
            leaves it undefined (every resample equal, or NaN).
        seed: seeds the resampling.
        resamples: number of resamples.
        vectorized: whether `statistic` works on batches of resamples.

    Returns:
        `[low, high]`.
    """
    with warnings.catch_warnings():
        # A degenerate distribution (all resamples equal) is a valid answer here.
        warnings.simplefilter("ignore", stats.DegenerateDataWarning)
        result = stats.bootstrap(
            data,
            statistic,
            paired=True,
            vectorized=vectorized,
            n_resamples=resamples,
            confidence_level=CONFIDENCE,
            method="percentile",
            rng=np.random.default_rng(seed),
        )
    low, high = result.confidence_interval
    return [float(point if math.isnan(low) else low), float(point if math.isnan(high) else high)]


def _accuracy(y_true: np.ndarray, y_pred: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.mean(y_true == y_pred, axis=axis)


def _macro_f1(y_true: np.ndarray, y_pred: np.ndarray, classes: int, axis: int = -1) -> np.ndarray:
    """Macro F1 over classes `0..classes-1` of each resample along `axis`.

    As `sklearn.metrics.f1_score(average="macro", labels=range(classes),
    zero_division=0)`: a class's F1 is 2 TP / (2 TP + FP + FN), 0 where it is
    neither true nor predicted, averaged over every class.
    """
    y_true, y_pred = np.moveaxis(y_true, axis, -1), np.moveaxis(y_pred, axis, -1)
    batch_shape, examples = y_true.shape[:-1], y_true.shape[-1]
    true = y_true.reshape(-1, examples).astype(np.int64)
    pred = y_pred.reshape(-1, examples).astype(np.int64)
    offsets = np.arange(len(true))[:, np.newaxis] * classes
    size = len(true) * classes

    def counts(cells: np.ndarray) -> np.ndarray:
        return np.bincount(cells.ravel(), minlength=size).reshape(len(true), classes)

    hits = counts((offsets + true)[true == pred])
    both = counts(offsets + true) + counts(offsets + pred)  # 2 TP + FP + FN per class.
    f1 = np.divide(2.0 * hits, both, out=np.zeros(both.shape), where=both > 0)
    return f1.mean(axis=1).reshape(batch_shape)


def _batched_rmse(y_true: np.ndarray, y_pred: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.sqrt(np.mean((y_true - y_pred) ** 2, axis=axis))


def _batched_mae(y_true: np.ndarray, y_pred: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.mean(np.abs(y_true - y_pred), axis=axis)


def _batched_r2(y_true: np.ndarray, y_pred: np.ndarray, axis: int = -1) -> np.ndarray:
    """R^2 as `sklearn.metrics.r2_score`: 1 for a perfect fit of a constant target, else 0 there."""
    residual = np.sum((y_true - y_pred) ** 2, axis=axis)
    total = np.sum((y_true - np.mean(y_true, axis=axis, keepdims=True)) ** 2, axis=axis)
    constant = np.where(residual == 0, 1.0, 0.0)
    return np.where(total > 0, 1.0 - residual / np.where(total > 0, total, 1.0), constant)


def _roc_auc(y_true: np.ndarray, probabilities: np.ndarray, labels: np.ndarray) -> float | None:
    """One-vs-rest macro ROC-AUC; None when undefined (a class missing from the split)."""
    if len(np.unique(y_true)) != len(labels):
        return None
    if len(labels) == 2:
        return float(skm.roc_auc_score(y_true, probabilities[:, 1]))
    return float(skm.roc_auc_score(y_true, probabilities, multi_class="ovr", labels=labels))


def _normalized(probabilities: np.ndarray) -> np.ndarray:
    """Rows rescaled to sum to 1 (argmax unchanged).

    Quantized models output probabilities on a grid of int8 steps whose rows
    sum to 1 only approximately, which ROC-AUC and log loss refuse.
    """
    probabilities = np.clip(np.asarray(probabilities, dtype=np.float64), 0.0, None)
    totals = probabilities.sum(axis=1, keepdims=True)
    uniform = np.full_like(probabilities, 1.0 / max(probabilities.shape[1], 1))
    return np.where(totals > 0, probabilities / np.where(totals > 0, totals, 1.0), uniform)
