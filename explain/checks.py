"""Checks that an explanation is faithful to the model, reported per method with pass/fail.

- Model randomization (Adebayo et al., "Sanity Checks for Saliency Maps",
  2018): the attributions of a copy of the model with re-initialized weights
  must differ from the trained model's; a method whose maps survive the
  randomization explains the input, not the model.
- Deletion (Petsiuk et al., RISE, 2018): removing the features ranked most
  important must lower the explained output faster than removing random
  ones; the area under each deletion curve is reported.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy import stats


def importance_map(values: np.ndarray, signed: bool, channels_last: bool) -> np.ndarray:
    """Per-feature importance: pixels sum their channels; unsigned methods rank by magnitude.

    Args:
        values: `(examples, *input_shape)` attributions.
        signed: whether the sign carries meaning (a positive attribution raised
            the output); gradient saliency is ranked by magnitude.
        channels_last: sum the last axis (image channels) into one value per pixel.

    Returns:
        `(examples, features)` importances.
    """
    values = np.abs(values) if not signed else values
    if channels_last:
        values = values.sum(axis=-1)
    return values.reshape(len(values), -1)


def randomization_check(
    trained: np.ndarray, randomized: np.ndarray, max_correlation: float
) -> dict[str, float | bool]:
    """Spearman rank correlation between the trained and the randomized model's maps.

    Args:
        trained: `(examples, features)` importances from the trained model.
        randomized: the same from the re-initialized copy.
        max_correlation: the mean correlation must stay below this to pass.

    Returns:
        `value` (mean Spearman rho over examples), `min` and `max`, `passed`.
    """
    rhos = np.array([_spearman(a, b) for a, b in zip(trained, randomized, strict=True)])
    value = float(np.nanmean(rhos)) if np.isfinite(rhos).any() else 0.0
    return {
        "value": value,
        "min": float(np.nanmin(rhos)) if np.isfinite(rhos).any() else 0.0,
        "max": float(np.nanmax(rhos)) if np.isfinite(rhos).any() else 0.0,
        "threshold": max_correlation,
        "passed": bool(value < max_correlation),
    }


def _spearman(a: np.ndarray, b: np.ndarray) -> float:
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return 0.0  # A constant map ranks nothing; it shares no ordering with the other.
    return float(stats.spearmanr(a, b).statistic)


def deletion_check(
    score: Callable[[np.ndarray, np.ndarray], np.ndarray],
    inputs: np.ndarray,
    importances: np.ndarray,
    fill: np.ndarray,
    steps: int,
    random_orders: int,
    seed: int,
) -> dict[str, float | bool | list[float]]:
    """Deletes features in order of importance, and in random orders, and compares the curves.

    Args:
        score: `score(batch, example_index) -> (rows,)` the explained output of
            each row of `batch`, where `example_index[i]` says which example row i
            was made from (so the caller can pick that example's target class).
        inputs: `(examples, *input_shape)`.
        importances: `(examples, features)` from `importance_map`; a feature is
            a pixel (all its channels) or a table column.
        fill: input-shaped values a deleted feature takes (black, the train mean...).
        steps: deletion fractions from 0 to 1 (`steps + 1` points).
        random_orders: random orders averaged for the reference curve.
        seed: seeds the random orders.

    Returns:
        `auc` (importance order) and `random_auc` (mean of random orders), both
        the mean over examples of the area under output-vs-fraction-deleted,
        the mean curves, and `passed` (auc < random_auc).
    """
    rng = np.random.default_rng(seed)
    features = importances.shape[1]
    orders = np.argsort(-importances, axis=1, kind="stable")
    attributed = _deletion_curves(score, inputs, orders, fill, steps)
    random_curves = [
        _deletion_curves(
            score,
            inputs,
            np.stack([rng.permutation(features) for _ in range(len(inputs))]),
            fill,
            steps,
        )
        for _ in range(random_orders)
    ]
    reference = np.mean(random_curves, axis=0)
    fractions = np.linspace(0.0, 1.0, steps + 1)
    auc = float(np.mean(np.trapezoid(attributed, fractions, axis=1)))
    random_auc = float(np.mean(np.trapezoid(reference, fractions, axis=1)))
    return {
        "value": auc,
        "auc": auc,
        "random_auc": random_auc,
        "curve": attributed.mean(axis=0).tolist(),
        "random_curve": reference.mean(axis=0).tolist(),
        "passed": bool(auc < random_auc),
    }


def _deletion_curves(
    score: Callable[[np.ndarray, np.ndarray], np.ndarray],
    inputs: np.ndarray,
    orders: np.ndarray,
    fill: np.ndarray,
    steps: int,
) -> np.ndarray:
    """`(examples, steps + 1)` outputs as ever more of each example's features are deleted."""
    examples, features = orders.shape
    feature_shape = (features, -1)  # A feature's values: a pixel's channels, or one column.
    flat_inputs = inputs.reshape(examples, *feature_shape)
    flat_fill = np.broadcast_to(fill, inputs.shape[1:]).reshape(feature_shape)
    counts = np.round(np.linspace(0, features, steps + 1)).astype(int)
    batch = np.empty((examples, steps + 1, *flat_inputs.shape[1:]), dtype=inputs.dtype)
    for example in range(examples):
        for step, count in enumerate(counts):
            current = flat_inputs[example].copy()
            deleted = orders[example, :count]
            current[deleted] = flat_fill[deleted]
            batch[example, step] = current
    rows = batch.reshape(examples * (steps + 1), *inputs.shape[1:])
    outputs = score(rows, np.repeat(np.arange(examples), steps + 1))
    return np.asarray(outputs).reshape(examples, steps + 1)
