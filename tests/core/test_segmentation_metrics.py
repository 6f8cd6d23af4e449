"""Segmentation metrics against sklearn's on the counted pixels, and hand-checked cases."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as skm

from tasklab.core.segmentation_metrics import (
    IGNORE,
    evaluate_segmentation,
    image_confusions,
    per_image_iou,
)


def one_hot(masks, classes):
    return np.eye(classes)[masks]


def random_masks(rng, images=6, size=(9, 7), classes=4, ignored=0.1):
    truth = rng.integers(0, classes, size=(images, *size))
    truth[rng.random(truth.shape) < ignored] = IGNORE
    # Right on about 60% of the pixels, so every metric is far from 0 and 1.
    noise = rng.integers(0, classes, truth.shape)
    predicted = np.where(rng.random(truth.shape) < 0.6, truth, noise)
    predicted[predicted == IGNORE] = 0
    return truth, predicted


def test_metrics_match_sklearn_on_the_counted_pixels():
    rng = np.random.default_rng(0)
    truth, predicted = random_masks(rng)
    result = evaluate_segmentation(truth, one_hot(predicted, 4), ["a", "b", "c", "d"], seed=0)
    counted = truth != IGNORE
    y_true, y_pred = truth[counted], predicted[counted]
    labels = [0, 1, 2, 3]
    iou = skm.jaccard_score(y_true, y_pred, labels=labels, average=None)
    dice = skm.f1_score(y_true, y_pred, labels=labels, average=None)
    assert result.metrics["mean_iou"] == pytest.approx(iou.mean())
    assert result.metrics["mean_dice"] == pytest.approx(dice.mean())
    assert result.metrics["pixel_accuracy"] == pytest.approx(skm.accuracy_score(y_true, y_pred))
    assert [result.per_class[n]["iou"] for n in "abcd"] == pytest.approx(iou)
    assert result.confusion_matrix == skm.confusion_matrix(y_true, y_pred, labels=labels).tolist()
    assert result.primary == "mean_iou" and result.higher_is_better
    for name, (low, high) in result.intervals.items():
        assert low < result.metrics[name] < high, name


def test_per_image_confusions_sum_to_the_split_and_skip_ignored_pixels():
    rng = np.random.default_rng(1)
    truth, predicted = random_masks(rng)
    confusions = image_confusions(truth, predicted, 4)
    for image in range(len(truth)):
        counted = truth[image] != IGNORE
        expected = skm.confusion_matrix(
            truth[image][counted], predicted[image][counted], labels=[0, 1, 2, 3]
        )
        np.testing.assert_array_equal(confusions[image], expected)
    assert confusions.sum() == np.count_nonzero(truth != IGNORE)


def test_hand_checked_image():
    # Truth: left half class 1, right half class 0; prediction: class 1 on 3 of 4 columns.
    truth = np.array([[[1, 1, 0, 0], [1, 1, 0, 0]]])
    predicted = np.array([[[1, 1, 1, 0], [1, 1, 1, 0]]])
    result = evaluate_segmentation(truth, one_hot(predicted, 3), ["bg", "fg", "unused"], seed=0)
    # Class 1: TP 4, FP 2, FN 0 -> IoU 4/6; class 0: TP 2, FN 2 -> 2/4. Class 2 is absent
    # from truth and prediction: no IoU, left out of the mean.
    assert result.per_class["fg"]["iou"] == pytest.approx(4 / 6)
    assert result.per_class["bg"]["iou"] == pytest.approx(0.5)
    assert result.per_class["unused"]["iou"] is None
    assert result.metrics["mean_iou"] == pytest.approx((4 / 6 + 0.5) / 2)
    assert result.metrics["pixel_accuracy"] == pytest.approx(6 / 8)
    assert result.metrics["mean_dice"] == pytest.approx((8 / 10 + 4 / 6) / 2)
    # One image: no resampling, the interval is the value.
    assert result.intervals["mean_iou"] == [result.metrics["mean_iou"]] * 2


def test_per_image_iou_counts_only_the_classes_each_image_holds():
    truth = np.array([[[0, 0], [1, 1]], [[2, 2], [2, 2]]])
    predicted = np.array([[[0, 0], [1, 1]], [[2, 2], [2, 0]]])
    ious = per_image_iou(image_confusions(truth, predicted, 3))
    # Image 1 is perfect; image 2: class 2 IoU 3/4, class 0 (predicted once, never true) 0.
    np.testing.assert_allclose(ious, [1.0, (0.75 + 0.0) / 2])


def test_a_label_outside_the_classes_is_refused_naming_the_range():
    truth = np.array([[[0, 7]]])
    with pytest.raises(ValueError, match=r"outside the 3 classes \(0..2, or 255"):
        image_confusions(truth, np.zeros_like(truth), 3)
    with pytest.raises(ValueError, match="one shape"):
        image_confusions(truth, np.zeros((1, 2, 2), int), 3)


def test_an_all_ignored_image_counts_for_nothing():
    truth = np.full((2, 3, 3), IGNORE)
    truth[1] = 1
    predicted = np.ones((2, 3, 3), int)
    ious = per_image_iou(image_confusions(truth, predicted, 2))
    assert np.isnan(ious[0]) and ious[1] == 1.0
    result = evaluate_segmentation(truth, one_hot(predicted, 2), ["a", "b"], seed=0)
    assert result.metrics["mean_iou"] == 1.0 and result.per_class["a"]["iou"] is None
