from __future__ import annotations

import math

import numpy as np

from tasklab.core.evaluate import evaluate_classification


def one_hot_probabilities(predicted, classes, confidence=0.9):
    probabilities = np.full((len(predicted), classes), (1 - confidence) / (classes - 1))
    probabilities[np.arange(len(predicted)), predicted] = confidence
    return probabilities


def test_metrics_match_hand_computed_values():
    y_true = np.array([0, 0, 1, 1, 2, 2])
    y_pred = np.array([0, 1, 1, 1, 2, 0])
    result = evaluate_classification(
        y_true, one_hot_probabilities(y_pred, 3), ("a", "b", "c"), seed=0
    )
    assert result.metrics["accuracy"] == 4 / 6
    # Per-class F1: a: P=1/2 R=1/2 -> 0.5; b: P=2/3 R=1 -> 0.8; c: P=1 R=1/2 -> 2/3.
    assert math.isclose(result.metrics["macro_f1"], (0.5 + 0.8 + 2 / 3) / 3)
    assert result.per_class["b"] == {"precision": 2 / 3, "recall": 1.0, "f1": 0.8, "support": 2}
    assert result.confusion_matrix == [[1, 1, 0], [0, 2, 0], [1, 0, 1]]
    expected_log_loss = -(4 * math.log(0.9) + 2 * math.log(0.05)) / 6
    assert math.isclose(result.metrics["log_loss"], expected_log_loss, rel_tol=1e-9)
    assert 0.5 < result.metrics["roc_auc_ovr"] < 1.0


def test_bootstrap_interval_has_the_binomial_width():
    rng = np.random.default_rng(0)
    y_true = rng.integers(0, 2, 400)
    y_pred = np.where(rng.random(400) < 0.8, y_true, 1 - y_true)
    result = evaluate_classification(
        y_true, one_hot_probabilities(y_pred, 2), ("no", "yes"), seed=0
    )
    accuracy = result.metrics["accuracy"]
    low, high = result.intervals["accuracy"]
    assert low < accuracy < high
    # Normal approximation: 2 * 1.96 * sqrt(p (1 - p) / n), about 0.078 here.
    expected = 2 * 1.96 * math.sqrt(accuracy * (1 - accuracy) / 400)
    assert abs((high - low) - expected) < 0.015
    f1_low, f1_high = result.intervals["macro_f1"]
    assert f1_low < result.metrics["macro_f1"] < f1_high
    again = evaluate_classification(y_true, one_hot_probabilities(y_pred, 2), ("no", "yes"), seed=0)
    assert again.intervals == result.intervals


def test_perfect_predictions_give_a_point_interval():
    y = np.array([0, 1, 2] * 10)
    result = evaluate_classification(y, one_hot_probabilities(y, 3), ("a", "b", "c"), seed=0)
    assert result.intervals["accuracy"] == [1.0, 1.0]
    assert result.metrics["roc_auc_ovr"] == 1.0


def test_roc_auc_is_none_when_a_class_is_absent():
    y_true = np.array([0, 1, 0, 1])
    result = evaluate_classification(
        y_true, one_hot_probabilities(y_true, 3), ("a", "b", "c"), seed=0
    )
    assert result.metrics["roc_auc_ovr"] is None
    assert result.per_class["c"]["support"] == 0


def test_batched_statistics_equal_sklearns_on_every_resample():
    """The bootstrap's batched macro-F1, RMSE, MAE and R^2 give sklearn's value per resample,
    absent classes, constant targets and perfect fits included."""
    from sklearn import metrics as skm

    from tasklab.core.evaluate import _batched_mae, _batched_r2, _batched_rmse, _macro_f1

    rng = np.random.default_rng(3)
    classes = 5
    y_true = rng.integers(0, classes - 1, size=(200, 30))  # Class 4 never true.
    y_pred = np.where(rng.random((200, 30)) < 0.7, y_true, rng.integers(0, classes, (200, 30)))
    y_pred[0] = y_true[0]  # A perfect resample.
    expected = [
        skm.f1_score(t, p, labels=np.arange(classes), average="macro", zero_division=0)
        for t, p in zip(y_true, y_pred, strict=True)
    ]
    np.testing.assert_allclose(_macro_f1(y_true, y_pred, classes), expected, rtol=1e-12)
    np.testing.assert_allclose(_macro_f1(y_true.T, y_pred.T, classes, axis=0), expected)

    values = rng.normal(size=(50, 20))
    predicted = values + rng.normal(scale=0.5, size=values.shape)
    values[0], predicted[1] = 3.0, values[1]  # A constant target; a perfect fit.
    predicted[2], values[2] = 1.0, 1.0  # A perfect fit of a constant target.
    for batched, reference in (
        (_batched_rmse, skm.root_mean_squared_error),
        (_batched_mae, skm.mean_absolute_error),
        (_batched_r2, skm.r2_score),
    ):
        expected = [reference(t, p) for t, p in zip(values, predicted, strict=True)]
        np.testing.assert_allclose(batched(values, predicted), expected, rtol=1e-10, atol=1e-12)
