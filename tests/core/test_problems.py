"""The problem objects: what differs between classification and regression, in one place."""

from __future__ import annotations

import re

import numpy as np
import pytest
from sklearn.dummy import DummyClassifier, DummyRegressor
from sklearn.model_selection import RepeatedKFold, RepeatedStratifiedKFold

from tasklab.core.problems import (
    CLASSIFICATION,
    PROBLEMS,
    REGRESSION,
    SEGMENTATION,
    problem_named,
)
from tasklab.core.segmentation_metrics import IGNORE
from tasklab.core.stats import mcnemar_exact, wilcoxon_errors
from tests.conftest import REPO

LABELS = np.array([0, 1, 2, 0, 1, 2, 0, 1, 2, 0])


def one_hot(classes: np.ndarray, width: int = 3) -> np.ndarray:
    outputs = np.full((len(classes), width), 0.1)
    outputs[np.arange(len(classes)), classes] = 0.8
    return outputs


def test_problems_are_found_by_name_and_an_unknown_one_lists_the_known():
    assert problem_named("classification") is CLASSIFICATION
    assert problem_named(REGRESSION) is REGRESSION
    assert PROBLEMS.names() == ["classification", "regression", "segmentation"]
    with pytest.raises(LookupError, match=r"classification.*regression"):
        problem_named("ranking")


def test_classes_are_stratified_and_values_drawn_at_random():
    np.testing.assert_array_equal(CLASSIFICATION.strata(LABELS), LABELS)
    assert REGRESSION.strata(LABELS.astype(float)) is None
    assert isinstance(CLASSIFICATION.cv_splitter(2, 5, 0), RepeatedStratifiedKFold)
    assert isinstance(REGRESSION.cv_splitter(2, 5, 0), RepeatedKFold)


def test_the_paired_test_is_mcnemar_on_decisions_or_wilcoxon_on_errors():
    first, second = one_hot(LABELS), one_hot(np.roll(LABELS, 1))
    assert CLASSIFICATION.paired_test(LABELS, first, second) == mcnemar_exact(
        LABELS, LABELS, np.roll(LABELS, 1)
    )
    values = np.linspace(0, 1, 10)
    first, second = values + 0.1, values[::-1]
    assert REGRESSION.paired_test(values, first, second) == wilcoxon_errors(values, first, second)


def test_estimators_give_outputs_shaped_like_the_keras_model():
    features = np.zeros((10, 2))
    classifier = DummyClassifier(strategy="prior").fit(features, LABELS)
    assert CLASSIFICATION.estimator_outputs(classifier, features).shape == (10, 3)
    regressor = DummyRegressor().fit(features, LABELS.astype(float))
    assert REGRESSION.estimator_outputs(regressor, features).shape == (10,)
    assert (CLASSIFICATION.estimator_type, REGRESSION.estimator_type) == ("classifier", "regressor")


def test_agreement_is_the_same_top_class_and_values_have_none():
    reference = one_hot(LABELS)
    flipped = one_hot(np.where(np.arange(10) < 2, (LABELS + 1) % 3, LABELS))
    assert CLASSIFICATION.agreement(reference, flipped) == pytest.approx(0.8)
    assert REGRESSION.agreement(reference[:, :1], reference[:, :1]) is None


def test_half_the_explained_examples_are_mistakes_where_there_are_enough():
    outputs = one_hot(np.where(np.arange(10) < 4, (LABELS + 1) % 3, LABELS))
    rows = CLASSIFICATION.examples_to_explain(LABELS, outputs, 6, np.random.default_rng(0))
    explained = CLASSIFICATION.explained(outputs[rows])
    mistakes = CLASSIFICATION.mistakes(LABELS[rows], explained.predicted)
    assert len(rows) == 6 and np.all(np.diff(rows) > 0)
    assert mistakes.sum() == 3
    np.testing.assert_array_equal(explained.targets, outputs[rows].argmax(axis=1))
    np.testing.assert_allclose(explained.confidence, 0.8)


def test_regression_explains_the_value_of_a_random_sample():
    outputs = np.linspace(0, 1, 10)[:, None]
    rows = REGRESSION.examples_to_explain(np.zeros(10), outputs, 4, np.random.default_rng(0))
    explained = REGRESSION.explained(outputs[rows])
    assert len(rows) == 4 and REGRESSION.mistakes(np.zeros(4), explained.predicted) is None
    np.testing.assert_array_equal(explained.targets, 0)
    np.testing.assert_allclose(explained.confidence, outputs[rows, 0])


def test_the_keras_loss_and_metrics_are_declared_as_keras_configs():
    import keras

    loss = keras.losses.get(dict(CLASSIFICATION.loss))
    assert isinstance(loss, keras.losses.SparseCategoricalCrossentropy)
    names = [keras.metrics.get(dict(config)).name for config in REGRESSION.metrics]
    assert names == ["rmse", "mae"]


def test_no_module_outside_the_problems_compares_a_problem_name():
    # A new kind of problem is one class in core/problems.py; a comparison with a problem's
    # name elsewhere is a branch that new kind would have to find and extend.
    compared = re.compile(
        r"""[!=]=\s*["'](classification|regression)["']|["'](classification|regression)["']\s*[!=]="""
    )
    offenders = [
        str(path.relative_to(REPO))
        for folder in ("core", "data", "edge", "tasks", "training", "baselines", "explain",
                       "export", "pipelines", "bench")
        for path in sorted((REPO / folder).rglob("*.py"))
        if compared.search(path.read_text(encoding="utf-8"))
    ]  # fmt: skip
    assert not offenders, offenders


def masks_and_outputs():
    """Four 4x4 masks (class 2 only in the last image) and outputs right on most pixels."""
    masks = np.zeros((4, 4, 4), dtype=np.int64)
    masks[:, :2] = 1
    masks[3, 3, 3] = 2
    masks[0, 0, 0] = IGNORE
    predicted = np.where(masks == IGNORE, 0, masks)
    predicted[1, 2:, :] = 1  # Image 1 is half wrong.
    return masks, np.eye(3)[predicted] * 0.9 + 0.1 / 3


def test_segmentation_stratifies_images_by_the_rarest_class_they_hold():
    masks, _ = masks_and_outputs()
    np.testing.assert_array_equal(SEGMENTATION.strata(masks), [0, 0, 0, 2])
    assert isinstance(SEGMENTATION.cv_splitter(2, 5, 0), RepeatedStratifiedKFold)


def test_segmentation_judges_by_mean_iou_and_pairs_images_by_their_iou():
    masks, outputs = masks_and_outputs()
    evaluation = SEGMENTATION.evaluate(masks, outputs, ("bg", "stripe", "dot"), seed=0)
    assert evaluation.primary == "mean_iou"
    assert SEGMENTATION.score("mean_iou", masks, outputs) == evaluation.metrics["mean_iou"]
    ious = SEGMENTATION.image_ious(masks, outputs)
    assert ious[0] == ious[2] == ious[3] == 1.0 and ious[1] < 1.0
    worse = outputs.copy()
    worse[..., 1] += 1.0  # Everything "stripe": every image loses its background.
    test = SEGMENTATION.paired_test(masks, outputs, worse)
    assert test.name == "Wilcoxon signed-rank test on per-image IoU" and test.statistic == 0.0
    assert SEGMENTATION.agreement(outputs, worse) == pytest.approx(np.mean(outputs.argmax(-1) == 1))


def test_segmentation_trains_with_the_ignore_label_and_mean_iou():
    import keras

    loss = keras.losses.get(dict(SEGMENTATION.loss))
    (metric,) = [keras.metrics.get(dict(config)) for config in SEGMENTATION.keras_metrics(3)]
    masks, outputs = masks_and_outputs()
    metric.update_state(masks, outputs)
    assert metric.name == "mean_iou" and float(metric.result()) == pytest.approx(
        SEGMENTATION.score("mean_iou", masks, outputs), abs=1e-6
    )
    assert np.isfinite(float(loss(masks, outputs)))  # 255 is ignored, not an index.
    assert CLASSIFICATION.keras_metrics(3) == CLASSIFICATION.metrics


def test_segmentation_explains_the_main_predicted_region_of_the_worst_and_best_images():
    masks, outputs = masks_and_outputs()
    explained = SEGMENTATION.explained(outputs)
    np.testing.assert_array_equal(explained.targets, [1, 1, 1, 1])
    assert explained.predicted.shape == masks.shape
    np.testing.assert_allclose(explained.confidence, 0.9 + 0.1 / 3)
    rows = SEGMENTATION.examples_to_explain(masks, outputs, 2, np.random.default_rng(0))
    assert list(rows) == [1, 3]  # The worst image (1) and the best (the last of the perfect).
