"""What differs between kinds of prediction problem, in one object per kind.

A task declares its problem (`ClassificationTask.problem` is `CLASSIFICATION`);
every stage asks the problem instead of comparing a name: how labels are
stratified, which metrics and paired test judge a model, which classical
estimator fits it, how an exported model's agreement is measured, which test
examples are worth explaining. A new kind of problem (segmentation, detection,
sequences) is one subclass registered in `PROBLEMS`.

The module is TensorFlow-free (numpy, scipy, sklearn): the data layer below the
tasks uses it too. The Keras loss and metrics are declared as Keras
serialization configs, which the task layer turns into objects.
"""

from __future__ import annotations

import abc
import dataclasses
from typing import Any, ClassVar

import numpy as np
from sklearn.model_selection import BaseCrossValidator, RepeatedKFold, RepeatedStratifiedKFold

from tasklab.core.evaluate import (
    Evaluation,
    evaluate_classification,
    evaluate_regression,
    primary_score,
)
from tasklab.core.registry import Registry
from tasklab.core.segmentation_metrics import (
    IGNORE,
    evaluate_segmentation,
    image_confusions,
    per_image_iou,
    split_metrics,
)
from tasklab.core.stats import PairedTest, mcnemar_exact, wilcoxon_errors, wilcoxon_scores


@dataclasses.dataclass(frozen=True)
class Explained:
    """Which output an explanation of each example is about.

    Attributes:
        predicted: the model's prediction per example (a class, or a value).
        targets: the output index explained per example (the predicted class; 0 for a value).
        confidence: that output's value (the class probability, or the value).
    """

    predicted: np.ndarray
    targets: np.ndarray
    confidence: np.ndarray


class Problem(abc.ABC):
    """A kind of prediction problem.

    Class attributes a concrete problem sets:
        name: its registry name (saved in run directories and edge bundles).
        has_classes: labels are class indices: splits are stratified by them
            and the data names the classes.
        estimator_type: sklearn's `_estimator_type` of its classical baselines
            (`classifier` or `regressor`).
        output_kind: what the model outputs, as an edge bundle declares it
            (`probabilities` or `value`); the edge runner reads outputs by it.
        loss: the Keras loss, as a Keras serialization config.
        metrics: the Keras training metrics, as serialization configs.
    """

    name: ClassVar[str]
    has_classes: ClassVar[bool]
    estimator_type: ClassVar[str]
    output_kind: ClassVar[str]
    loss: ClassVar[dict[str, Any]]
    metrics: ClassVar[tuple[dict[str, Any], ...]]

    def __repr__(self) -> str:
        return f"<problem {self.name}>"

    def keras_metrics(self, classes: int) -> tuple[dict[str, Any], ...]:
        """The Keras training metrics for `classes` classes (0 without classes): `metrics`."""
        return self.metrics

    def strata(self, labels: np.ndarray) -> np.ndarray | None:
        """The labels to stratify splits and samples by, or None to draw at random."""
        return np.asarray(labels) if self.has_classes else None

    def cv_splitter(self, folds: int, repeats: int, seed: int) -> BaseCrossValidator:
        """Repeated k-fold cross-validation, stratified where labels are classes."""
        splitter = RepeatedStratifiedKFold if self.has_classes else RepeatedKFold
        return splitter(n_splits=folds, n_repeats=repeats, random_state=seed)

    @abc.abstractmethod
    def evaluate(
        self, y_true: np.ndarray, outputs: np.ndarray, class_names: tuple[str, ...], seed: int
    ) -> Evaluation:
        """The held-out metrics, with bootstrap intervals, from a model's outputs."""

    def score(self, metric: str, y_true: np.ndarray, outputs: np.ndarray) -> float:
        """One metric without intervals (cross-validation folds)."""
        return primary_score(metric, y_true, outputs)

    @abc.abstractmethod
    def paired_test(self, y_true: np.ndarray, first: np.ndarray, second: np.ndarray) -> PairedTest:
        """The test of two models' outputs on the same held-out examples."""

    @abc.abstractmethod
    def estimator_outputs(self, estimator: Any, features: Any) -> np.ndarray:
        """A fitted sklearn-style estimator's outputs, shaped like the Keras model's."""

    @abc.abstractmethod
    def agreement(self, reference: np.ndarray, candidate: np.ndarray) -> float | None:
        """How often an exported model decides as the Keras model did (None: not measured)."""

    def output_scale(self, outputs: np.ndarray) -> float:
        """What an output difference is measured against in the export gate (1: absolute)."""
        return 1.0

    @abc.abstractmethod
    def explained(self, outputs: np.ndarray) -> Explained:
        """Which output an explanation of each example is about."""

    @abc.abstractmethod
    def examples_to_explain(
        self, y_true: np.ndarray, outputs: np.ndarray, count: int, rng: np.random.Generator
    ) -> np.ndarray:
        """The sorted test rows worth explaining: `count` of them (fewer if the split is small)."""

    def mistakes(self, y_true: np.ndarray, predicted: np.ndarray) -> np.ndarray | None:
        """Which predictions are wrong, where that is a yes or no (None otherwise)."""
        return None


def decision_agreement(reference: np.ndarray, candidate: np.ndarray) -> float:
    """The fraction of decisions (examples, or pixels) given the same most probable class."""
    return float(np.mean(reference.argmax(axis=-1) == candidate.argmax(axis=-1)))


PROBLEMS: Registry[Problem] = Registry("problem")


def register_problem(cls: type[Problem]) -> type[Problem]:
    """Class decorator: registers one instance of a problem under its `name`."""
    PROBLEMS.register(cls.name)(cls())
    return cls


def problem_named(problem: Problem | str) -> Problem:
    """The problem itself, or the one registered under a name (`classification`, ...).

    Raises:
        LookupError: listing the known problems.
    """
    return problem if isinstance(problem, Problem) else PROBLEMS.get(problem)


@register_problem
class Classification(Problem):
    """One class per example; the model outputs a probability per class."""

    name = "classification"
    has_classes = True
    estimator_type = "classifier"
    output_kind = "probabilities"
    loss: ClassVar[dict[str, Any]] = {"class_name": "SparseCategoricalCrossentropy", "config": {}}
    metrics = ({"class_name": "SparseCategoricalAccuracy", "config": {"name": "accuracy"}},)

    def evaluate(self, y_true, outputs, class_names, seed):
        return evaluate_classification(y_true, outputs, class_names, seed=seed)

    def paired_test(self, y_true, first, second):
        # Exact McNemar on the discordant predictions: both models' decisions, paired.
        return mcnemar_exact(y_true, first.argmax(axis=1), second.argmax(axis=1))

    def estimator_outputs(self, estimator, features):
        return estimator.predict_proba(features)

    def agreement(self, reference, candidate):
        return decision_agreement(reference, candidate)

    def explained(self, outputs):
        predicted = outputs.argmax(axis=1)
        return Explained(predicted, predicted, outputs[np.arange(len(outputs)), predicted])

    def examples_to_explain(self, y_true, outputs, count, rng):
        # Half misclassified where there are so many: they are what a reader checks first.
        mistaken = self.mistakes(y_true, outputs.argmax(axis=1))
        wrong, right = np.flatnonzero(mistaken), np.flatnonzero(~mistaken)
        wrong = rng.choice(wrong, size=min(len(wrong), count // 2), replace=False)
        right = rng.choice(right, size=min(len(right), count - len(wrong)), replace=False)
        return np.sort(np.concatenate([wrong, right]).astype(int))

    def mistakes(self, y_true, predicted):
        return np.asarray(predicted) != np.asarray(y_true)


@register_problem
class Regression(Problem):
    """One value per example; the model outputs it as a `(1,)` vector."""

    name = "regression"
    has_classes = False
    estimator_type = "regressor"
    output_kind = "value"
    loss: ClassVar[dict[str, Any]] = {"class_name": "MeanSquaredError", "config": {}}
    metrics = (
        {"class_name": "RootMeanSquaredError", "config": {"name": "rmse"}},
        {"class_name": "MeanAbsoluteError", "config": {"name": "mae"}},
    )

    def evaluate(self, y_true, outputs, class_names, seed):
        return evaluate_regression(y_true, outputs, seed=seed)

    def paired_test(self, y_true, first, second):
        return wilcoxon_errors(y_true, first, second)

    def estimator_outputs(self, estimator, features):
        return estimator.predict(features)

    def agreement(self, reference, candidate):
        return None  # Values have no decision to agree on; the gate compares them directly.

    def output_scale(self, outputs):
        # Values carry the target's units: float32 rounding alone moves a value of 1,000 by
        # about 1e-4, so differences count relative to the largest (at least 1).
        return max(1.0, float(np.max(np.abs(outputs)))) if np.size(outputs) else 1.0

    def explained(self, outputs):
        values = np.asarray(outputs).reshape(-1)
        return Explained(values, np.zeros(len(values), dtype=int), values)

    def examples_to_explain(self, y_true, outputs, count, rng):
        return np.sort(rng.choice(len(y_true), size=min(count, len(y_true)), replace=False))


@register_problem
class Segmentation(Problem):
    """A class per pixel; the model outputs `(height, width, classes)` probabilities.

    Labels are `(height, width)` masks of class indices, `IGNORE` (255) where a
    pixel is not labelled. An image is the unit of every statistic: splits are
    stratified by the rarest class an image holds, intervals resample images,
    and the paired test compares per-image IoU.
    """

    name = "segmentation"
    has_classes = True
    estimator_type = "pixel_classifier"  # Its classical baselines classify every pixel.
    output_kind = "pixel_probabilities"
    loss: ClassVar[dict[str, Any]] = {
        "class_name": "SparseCategoricalCrossentropy",
        "config": {"ignore_class": IGNORE},
    }
    metrics = ()  # Mean IoU needs the number of classes: see `keras_metrics`.

    def keras_metrics(self, classes):
        return (
            {
                "class_name": "MeanIoU",
                "config": {
                    "num_classes": classes,
                    "ignore_class": IGNORE,
                    "sparse_y_pred": False,
                    "name": "mean_iou",
                },
            },
        )

    def strata(self, labels):
        # Multi-label stratification, simplified: each image is filed under the rarest class it
        # holds (in image counts), so every split gets images of the rare classes.
        masks = np.asarray(labels)
        classes = int(masks[masks != IGNORE].max(initial=0)) + 1
        holds = np.stack([(masks == c).any(axis=(1, 2)) for c in range(classes)], axis=1)
        images_per_class = holds.sum(axis=0)
        rarity = np.where(holds, images_per_class[None, :], np.iinfo(np.int64).max)
        return rarity.argmin(axis=1)

    def cv_splitter(self, folds, repeats, seed):
        return RepeatedStratifiedKFold(n_splits=folds, n_repeats=repeats, random_state=seed)

    def evaluate(self, y_true, outputs, class_names, seed):
        return evaluate_segmentation(y_true, outputs, class_names, seed=seed)

    def score(self, metric, y_true, outputs):
        confusion = image_confusions(y_true, outputs.argmax(axis=-1), outputs.shape[-1]).sum(0)
        return float(split_metrics(confusion)[metric])

    def image_ious(self, y_true: np.ndarray, outputs: np.ndarray) -> np.ndarray:
        """Each image's mean IoU over the classes it or its prediction holds."""
        predicted = np.asarray(outputs).argmax(axis=-1)
        return per_image_iou(image_confusions(y_true, predicted, np.shape(outputs)[-1]))

    def paired_test(self, y_true, first, second):
        return wilcoxon_scores(
            self.image_ious(y_true, first), self.image_ious(y_true, second), "per-image IoU"
        )

    def estimator_outputs(self, estimator, features):
        # A pixel classifier predicts every pixel's probabilities; its features say the shape.
        return estimator.predict_proba(features)

    def agreement(self, reference, candidate):
        return decision_agreement(reference, candidate)  # Per pixel.

    def explained(self, outputs):
        # Per image, the region of its most frequent predicted class other than class 0 (the
        # background, by convention), or class 0 where nothing else is predicted; its
        # confidence is the class's mean probability over that region.
        predicted = np.asarray(outputs).argmax(axis=-1)
        classes = np.shape(outputs)[-1]
        foreground = np.stack([(predicted == c).sum(axis=(1, 2)) for c in range(classes)], axis=1)
        foreground[:, 0] = 0
        targets = foreground.argmax(axis=1)  # 0 where no other class is predicted.
        region = predicted == targets[:, None, None]
        chosen = np.take_along_axis(outputs, targets[:, None, None, None], axis=-1)[..., 0]
        confidence = (chosen * region).sum(axis=(1, 2)) / np.maximum(region.sum(axis=(1, 2)), 1)
        return Explained(predicted, targets, confidence)

    def examples_to_explain(self, y_true, outputs, count, rng):
        # The worst and the best images by IoU, half each: what a reader checks first.
        ious = np.nan_to_num(self.image_ious(y_true, outputs), nan=1.0)
        order = np.argsort(ious, kind="stable")
        count = min(count, len(order))
        worst, best = order[: count - count // 2], order[len(order) - count // 2 :]
        return np.sort(np.unique(np.concatenate([worst, best])).astype(int))


CLASSIFICATION = PROBLEMS.get("classification")
REGRESSION = PROBLEMS.get("regression")
SEGMENTATION = PROBLEMS.get("segmentation")
