"""Held-out metrics with `sklearn.metrics`, and bootstrap intervals with `scipy.stats`."""

from __future__ import annotations

import dataclasses
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

    def macro_f1(t: np.ndarray, p: np.ndarray) -> float:
        return skm.f1_score(t, p, labels=labels, average="macro", zero_division=0)

    return Evaluation(
        metrics={
            "accuracy": float(skm.accuracy_score(y_true, y_pred)),
            "macro_f1": float(macro_f1(y_true, y_pred)),
            "roc_auc_ovr": _roc_auc(y_true, probabilities, labels),
            "log_loss": float(skm.log_loss(y_true, probabilities, labels=labels)),
        },
        intervals={
            "accuracy": bootstrap_interval(
                y_true, y_pred, _accuracy, seed, resamples, vectorized=True
            ),
            "macro_f1": bootstrap_interval(y_true, y_pred, macro_f1, seed, resamples),
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
    return Evaluation(
        metrics={name: float(fn(y_true, y_pred)) for name, fn in statistics.items()},
        intervals={
            name: bootstrap_interval(y_true, y_pred, fn, seed, resamples)
            for name, fn in statistics.items()
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
    with warnings.catch_warnings():
        # A degenerate distribution (all resamples equal) is a valid answer here.
        warnings.simplefilter("ignore", stats.DegenerateDataWarning)
        result = stats.bootstrap(
            (y_true, y_pred),
            statistic,
            paired=True,
            vectorized=vectorized,
            n_resamples=resamples,
            confidence_level=CONFIDENCE,
            method="percentile",
            rng=np.random.default_rng(seed),
        )
    low, high = result.confidence_interval
    point = statistic(y_true, y_pred)
    return [float(point if math.isnan(low) else low), float(point if math.isnan(high) else high)]


def _accuracy(y_true: np.ndarray, y_pred: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.mean(y_true == y_pred, axis=axis)


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
