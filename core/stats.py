"""Paired significance tests between two models evaluated on the same splits (scipy.stats)."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
from scipy import stats


@dataclasses.dataclass(frozen=True)
class PairedTest:
    """The outcome of one paired test.

    Attributes:
        name: the test's name.
        citation: where it comes from.
        statistic: the test statistic.
        p_value: the two-sided p-value.
    """

    name: str
    citation: str
    statistic: float
    p_value: float


def paired_t_5x2cv(differences: np.ndarray) -> PairedTest:
    """Dietterich's 5x2cv paired t-test.

    Args:
        differences: shape `(5, 2)`: metric of model A minus model B on each
            fold of five repetitions of 2-fold cross-validation.

    Returns:
        t = d_11 / sqrt(mean_i s_i^2) with 5 degrees of freedom, where s_i^2 is
        the variance estimate of repetition i.
    """
    differences = np.asarray(differences, dtype=float)
    if differences.shape != (5, 2):
        raise ValueError(
            f"The 5x2cv t-test needs a (5, 2) array of differences. Received: {differences.shape}."
        )
    means = differences.mean(axis=1, keepdims=True)
    variance = ((differences - means) ** 2).sum(axis=1).mean()
    statistic = _safe_ratio(differences[0, 0], math.sqrt(variance))
    return PairedTest(
        name="5x2cv paired t-test",
        citation="Dietterich (1998), Approximate statistical tests for comparing supervised "
        "classification learning algorithms, Neural Computation 10(7)",
        statistic=statistic,
        p_value=_two_sided_t(statistic, 5),
    )


def corrected_resampled_t(differences: np.ndarray, train_size: int, test_size: int) -> PairedTest:
    """Nadeau and Bengio's corrected resampled t-test over cross-validation folds.

    The variance is inflated by `test/train` to account for the overlap of the
    training sets across folds.

    Args:
        differences: metric of model A minus model B on each of k folds.
        train_size: rows each fold trains on.
        test_size: rows each fold is scored on.

    Returns:
        t = mean(d) / sqrt((1/k + test/train) var(d)) with k - 1 degrees of freedom.
    """
    differences = np.asarray(differences, dtype=float).ravel()
    k = len(differences)
    if k < 2:
        raise ValueError(f"The corrected resampled t-test needs at least 2 folds. Received: {k}.")
    variance = differences.var(ddof=1)
    statistic = _safe_ratio(
        differences.mean(), math.sqrt((1 / k + test_size / train_size) * variance)
    )
    return PairedTest(
        name="corrected resampled t-test",
        citation="Nadeau and Bengio (2003), Inference for the generalization error, "
        "Machine Learning 52(3)",
        statistic=statistic,
        p_value=_two_sided_t(statistic, k - 1),
    )


def mcnemar_exact(
    y_true: np.ndarray, predicted_a: np.ndarray, predicted_b: np.ndarray
) -> PairedTest:
    """McNemar's exact test on held-out predictions: do the two models err on different rows?

    Args:
        y_true: true classes.
        predicted_a: model A's predicted classes.
        predicted_b: model B's predicted classes.

    Returns:
        The binomial test of the discordant pairs (A right and B wrong, and the reverse).
    """
    right_a, right_b = predicted_a == y_true, predicted_b == y_true
    only_a, only_b = int(np.sum(right_a & ~right_b)), int(np.sum(~right_a & right_b))
    p_value = 1.0 if only_a + only_b == 0 else stats.binomtest(only_a, only_a + only_b, 0.5).pvalue
    return PairedTest(
        name="McNemar's exact test",
        citation="McNemar (1947), Psychometrika 12(2); exact binomial form",
        statistic=float(min(only_a, only_b)),
        p_value=float(p_value),
    )


def wilcoxon_errors(
    y_true: np.ndarray, predicted_a: np.ndarray, predicted_b: np.ndarray
) -> PairedTest:
    """Wilcoxon signed-rank test of the two models' squared errors on held-out rows."""
    y_true = np.asarray(y_true, float).ravel()
    differences = (np.ravel(predicted_a) - y_true) ** 2 - (np.ravel(predicted_b) - y_true) ** 2
    return wilcoxon_differences(differences, "squared errors")


def wilcoxon_scores(scores_a: np.ndarray, scores_b: np.ndarray, what: str) -> PairedTest:
    """Wilcoxon signed-rank test of two models' scores on the same held-out examples.

    Args:
        scores_a: the first model's score per example (e.g. an image's IoU).
        scores_b: the second model's, on the same examples.
        what: what the scores are, for the test's name (`per-image IoU`).

    Returns:
        The test; examples where either score is undefined (NaN) are left out.
    """
    differences = np.ravel(scores_a).astype(float) - np.ravel(scores_b).astype(float)
    return wilcoxon_differences(differences[np.isfinite(differences)], what)


def wilcoxon_differences(differences: np.ndarray, what: str) -> PairedTest:
    """Wilcoxon signed-rank test that paired differences are centred on 0 (p = 1 if all are 0)."""
    if not np.any(differences):
        statistic, p_value = 0.0, 1.0
    else:
        result = stats.wilcoxon(differences)
        statistic, p_value = float(result.statistic), float(result.pvalue)
    return PairedTest(
        name=f"Wilcoxon signed-rank test on {what}",
        citation="Wilcoxon (1945), Biometrics Bulletin 1(6)",
        statistic=statistic,
        p_value=p_value,
    )


def _safe_ratio(numerator: float, denominator: float) -> float:
    # Zero spread: identical results give t = 0; a constant non-zero gap is infinitely significant.
    if denominator == 0:
        return 0.0 if numerator == 0 else math.copysign(math.inf, numerator)
    return float(numerator / denominator)


def _two_sided_t(statistic: float, degrees_of_freedom: int) -> float:
    return float(2 * stats.t.sf(abs(statistic), degrees_of_freedom))
