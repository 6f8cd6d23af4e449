"""Global importance (mean |SHAP|) and whether two models rely on the same features."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import stats


def global_importance(values: np.ndarray) -> np.ndarray:
    """Mean absolute attribution per feature over the explained examples.

    Args:
        values: `(examples, features)` attributions.

    Returns:
        `(features,)` importances.
    """
    return np.abs(values).mean(axis=0)


def importance_by_column(
    values: np.ndarray, feature_names: Sequence[str], columns: Sequence[str]
) -> np.ndarray:
    """Sums the attributions of encoded features back onto their input columns, per example.

    The Keras model sees one-hot blocks (`city=Paris`) and missing flags
    (`income__missing`); the trees see the columns. Summing a column's
    features per example (SHAP values are additive) puts both on the same
    columns before their importances are compared.

    Args:
        values: `(examples, features)` attributions of the encoded features.
        feature_names: the encoded features' names, as `TabularSchema.feature_names`.
        columns: the input columns, in order.

    Returns:
        `(examples, columns)` attributions.
    """
    owner = [_column_of(name, columns) for name in feature_names]
    summed = np.zeros((len(values), len(columns)), dtype=np.float64)
    for feature, column in enumerate(owner):
        summed[:, column] += values[:, feature]
    return summed


def _column_of(feature: str, columns: Sequence[str]) -> int:
    for index, column in enumerate(columns):
        if feature == column or feature.startswith((f"{column}=", f"{column}__missing")):
            return index
    raise ValueError(f"The feature '{feature}' belongs to none of the columns {list(columns)}.")


def rank_agreement(first: np.ndarray, second: np.ndarray) -> dict[str, float]:
    """Spearman and Kendall rank correlation of two importance vectors (with p-values)."""
    spearman = stats.spearmanr(first, second)
    kendall = stats.kendalltau(first, second)
    return {
        "spearman": float(spearman.statistic),
        "spearman_p_value": float(spearman.pvalue),
        "kendall": float(kendall.statistic),
        "kendall_p_value": float(kendall.pvalue),
    }
