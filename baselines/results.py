"""What the comparison stage returns and `baselines.json` holds, typed.

The stage builds these records, writes `ComparisonResult.to_json()`, and the
report, the CLI and `bench/` read the file back with `ComparisonResult.read`,
so each key is declared once, here.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from tasklab.core.results import Record

KERAS = "keras"  # The Keras model's name in the leaderboard.


@dataclasses.dataclass(frozen=True)
class CrossValScores(Record):
    """One model's primary metric over the cross-validation folds.

    Attributes:
        mean: the mean over folds (the leaderboard ranks by it).
        std: the sample standard deviation (0 for one fold).
        folds: one value per fold, in fold order.
    """

    mean: float
    std: float
    folds: tuple[float, ...]

    @classmethod
    def of(cls, scores: list[float]) -> CrossValScores:
        """The summary of one model's per-fold scores."""
        return cls(
            mean=float(np.mean(scores)),
            std=float(np.std(scores, ddof=1)) if len(scores) > 1 else 0.0,
            folds=tuple(float(score) for score in scores),
        )


@dataclasses.dataclass(frozen=True)
class ModelEntry(Record):
    """One model of the leaderboard: the Keras model or a baseline.

    Attributes:
        name: `keras` or the baseline's registered name.
        label: how the report names it.
        metrics: its held-out test metrics (None where undefined).
        intervals: their 95% bootstrap intervals, `[low, high]`.
        fit_seconds: its training time on the train split.
        predict_ms_per_1k: its prediction time per 1,000 test examples.
        size_bytes: its saved size.
        cv: its cross-validation scores, when the comparison cross-validated.
        importances: a pixel baseline's share of importance per filter
            response of its bank (`PixelClassifier.filter_importances`); None otherwise.
    """

    name: str
    label: str
    metrics: dict[str, float | None]
    intervals: dict[str, list[float]]
    fit_seconds: float
    predict_ms_per_1k: float
    size_bytes: int
    cv: CrossValScores | None = None
    importances: dict[str, float] | None = None

    @property
    def is_keras(self) -> bool:
        """Whether this is the run's Keras model."""
        return self.name == KERAS


@dataclasses.dataclass(frozen=True)
class PairedTestResult(Record):
    """A paired significance test between two models.

    Attributes:
        name: the test (e.g. `McNemar's exact test`).
        citation: where it comes from.
        statistic: its statistic (None when undefined, e.g. no disagreements).
        p_value: its p-value.
        compared: the two models' names, Keras first.
        alpha: the significance level, on the test the verdict rests on.
    """

    name: str
    citation: str
    statistic: float | None
    p_value: float
    compared: tuple[str, ...] = ()
    alpha: float | None = None


@dataclasses.dataclass(frozen=True)
class KerasRefit(Record):
    """How long the cross-validation's Keras refits trained, and why.

    Attributes:
        epochs: epochs each refit trained.
        run_epochs: epochs the run's own training ran.
        cv_budget: `compare.cv_budget` (None: every refit trains `train.epochs`).
    """

    epochs: int
    run_epochs: int
    cv_budget: float | None


@dataclasses.dataclass(frozen=True)
class CrossValProtocol(Record):
    """The cross-validation's shape.

    Attributes:
        repeats: repetitions of the k-fold split.
        folds: k.
        train_rows: mean training rows per fold.
        test_rows: mean test rows per fold.
        keras_refit: the Keras refits' epochs.
    """

    repeats: int
    folds: int
    train_rows: int
    test_rows: int
    keras_refit: KerasRefit


@dataclasses.dataclass(frozen=True)
class Protocol(Record):
    """On what the models were compared.

    Attributes:
        held_out: split name -> examples (every model saw the same splits).
        cv: the cross-validation, or None when the data was too large for it.
    """

    held_out: dict[str, int]
    cv: CrossValProtocol | None = None


@dataclasses.dataclass(frozen=True)
class ComparisonResult(Record):
    """The comparison of the Keras model with the baselines (`baselines.json`).

    Attributes:
        primary_metric: the metric the models are ranked by.
        higher_is_better: its direction.
        protocol: the splits and the cross-validation.
        models: the leaderboard, best first.
        test: the paired test the verdict rests on (None without baselines).
        held_out_test: the paired test on the held-out split.
        other_tests: the same comparison under the other applicable tests.
        verdict: one sentence: who wins, by how much, with what evidence.
    """

    primary_metric: str
    higher_is_better: bool
    protocol: Protocol
    models: tuple[ModelEntry, ...]
    test: PairedTestResult | None
    held_out_test: PairedTestResult | None = None
    other_tests: tuple[PairedTestResult, ...] = ()
    verdict: str = ""

    def model(self, name: str) -> ModelEntry | None:
        """The leaderboard entry named `name`, or None."""
        return next((entry for entry in self.models if entry.name == name), None)

    @property
    def keras(self) -> ModelEntry:
        """The Keras model's entry."""
        return next(entry for entry in self.models if entry.is_keras)

    @property
    def best_baseline(self) -> ModelEntry | None:
        """The best-ranked baseline, or None without baselines."""
        return next((entry for entry in self.models if not entry.is_keras), None)
