"""Does the neural net earn its keep? The Keras model against the baselines, on identical splits.

Two protocols, both on the same examples for every model:

- held-out: each baseline is fitted on the run's train split (XGBoost
  early-stops on its val split, as the Keras model does) and scored on its
  test split, with bootstrap intervals, fit time, latency and size;
- cross-validation (datasets up to `compare.cv_max_rows`): repeated k-fold over
  all examples, every model (the Keras one included) refitted per fold, so the
  paired test has enough folds: Dietterich's 5x2cv t-test for 5 x 2 folds, the
  corrected resampled t-test otherwise. The Keras refits train for the epochs
  `compare.cv_budget` allows (`fold_train_config`) on one compiled model;
  the baselines' refits run meanwhile on a second thread.

Without cross-validation, the test is McNemar's (classification) or Wilcoxon's
(regression) on the held-out predictions.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import logging
import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf

from tasklab.baselines.models import BASELINES, fit_baseline, fitted_bytes
from tasklab.baselines.pixels import PixelClassifier
from tasklab.baselines.results import (
    KERAS,
    ComparisonResult,
    CrossValProtocol,
    CrossValScores,
    KerasRefit,
    ModelEntry,
    PairedTestResult,
    Protocol,
)
from tasklab.baselines.text import TextXGBoost
from tasklab.baselines.xgboost_model import (
    XGBoostClassifier,
    XGBoostRegressor,
)
from tasklab.core.config import CompareConfig, ConfigError, RunConfig, TrainConfig
from tasklab.core.problems import Problem
from tasklab.core.progress import Progress, format_duration
from tasklab.core.run_dir import RunDir
from tasklab.core.stats import (
    PairedTest,
    corrected_resampled_t,
    paired_t_5x2cv,
)
from tasklab.data.base import Dataset, split_indices
from tasklab.tasks.base import Task
from tasklab.training.context import StageContext
from tasklab.training.train import RefitTrainer, make_input

logger = logging.getLogger(__name__)

_PERCENT_METRICS = ("accuracy", "macro_f1", "mean_iou", "pixel_accuracy", "mean_dice")


def applicable_baselines(config: RunConfig, task_cls: type[Task]) -> list[str]:
    """The baselines to run: the configured list, or the task's defaults (XGBoost first).

    Raises:
        ConfigError: for a configured baseline that cannot take the task's input.
    """
    if config.baselines is None:
        return list(task_cls.default_baselines)

    def fits(name: str) -> bool:
        baseline = BASELINES.get(name)
        return task_cls.data_kind in baseline.inputs and baseline.fits(task_cls.problem)

    wrong = [name for name in config.baselines if not fits(name)]
    if wrong:
        raise ConfigError(
            f"The baseline(s) {wrong} cannot take {task_cls.data_kind} inputs for "
            f"{task_cls.problem.name}. Baselines for the task '{task_cls.name}': "
            f"{[name for name in BASELINES.names() if fits(name)]}."
        )
    return list(config.baselines)


def run(context: StageContext, settings: CompareConfig) -> ComparisonResult:
    """Compares the trained Keras model with the baselines; writes `baselines.json`.

    Args:
        context: the trained model and its run, with its test outputs,
            evaluation and training figures (a run hands them over).
        settings: the `compare` section to run with.

    Returns:
        What `baselines.json` holds: the leaderboard (best first), the paired
        test the verdict rests on, the same comparison under the other
        applicable tests, and the verdict.
    """
    if context.evaluation is None or context.trained is None:
        raise ValueError("The comparison needs the run's test evaluation and training figures.")
    result = compare_models(context.with_settings("compare", settings))
    result.write(RunDir(context.run_dir).baselines)
    return result


def compare_models(context: StageContext) -> ComparisonResult:
    """Fits and scores the baselines beside the Keras model (see `run`)."""
    config, task, dataset = context.config, context.task, context.dataset
    strategy, run_dir = context.distribution(), context.run_dir
    names = applicable_baselines(config, type(task))
    problem = task.problem
    features = {
        split: task.baseline_features(getattr(dataset, split)) for split in ("train", "val", "test")
    }
    targets = {s: task.split_labels(getattr(dataset, s)) for s in ("train", "val", "test")}
    test_y = targets["test"]

    evaluation, trained = context.evaluation, context.trained
    entries = {KERAS: _keras_entry(context)}
    held_out_outputs = {KERAS: context.outputs_on_test()}
    fits = Progress("Baselines on the held-out split", len(names), logger, min_interval=0)
    for name in names:
        entries[name], held_out_outputs[name] = score_baseline_held_out(
            name, config.seed, task, features, targets, run_dir
        )
        fits.advance(f"{name} fitted in {format_duration(entries[name].fit_seconds)}")
    primary, higher_is_better = evaluation.primary, evaluation.higher_is_better

    cv = None
    if (
        names
        and dataset.resplit is not None
        and len(dataset.pool_labels) <= config.compare.cv_max_rows
    ):
        cv = cross_validate(config, task, dataset, strategy, names, primary, trained.epochs_run)
        for name, scores in cv.scores.items():
            entries[name] = dataclasses.replace(entries[name], cv=CrossValScores.of(scores))

    def rank_key(entry: ModelEntry) -> float:
        value = entry.cv.mean if cv else entry.metrics[primary]
        return -value if higher_is_better else value

    leaderboard = tuple(sorted(entries.values(), key=rank_key))
    result = ComparisonResult(
        primary_metric=primary,
        higher_is_better=higher_is_better,
        protocol=Protocol(
            held_out=dict(dataset.split_sizes()),
            cv=None if cv is None else cv.protocol(config.compare),
        ),
        models=leaderboard,
        test=None,
        verdict="No baselines were configured." if not names else "",
    )
    if not names:
        return result
    best = result.best_baseline
    compared = (KERAS, best.name)
    held_out_test = problem.paired_test(
        test_y, held_out_outputs[KERAS], held_out_outputs[best.name]
    )
    test, other_tests = held_out_test, []
    if cv is not None:
        differences = np.asarray(cv.scores[KERAS]) - np.asarray(cv.scores[best.name])
        test = _cv_test(differences, config, cv)
        # Shown beside the verdict's test, so a reader sees whether the conclusion depends on it.
        other_tests = [corrected_resampled_t(differences, cv.train_rows, cv.test_rows)]
        other_tests = [*other_tests, held_out_test]
        other_tests = [other for other in other_tests if other.name != test.name]
    keras_entry = entries[KERAS]
    difference = (
        keras_entry.cv.mean - best.cv.mean
        if cv
        else keras_entry.metrics[primary] - best.metrics[primary]
    )
    return dataclasses.replace(
        result,
        test=_test_result(test, compared, alpha=config.compare.alpha),
        held_out_test=_test_result(held_out_test, compared),
        other_tests=tuple(_test_result(other, compared) for other in other_tests),
        verdict=verdict(
            keras_label=keras_entry.label,
            best_label=best.label,
            metric=primary,
            higher_is_better=higher_is_better,
            difference=difference,
            test=test,
            alpha=config.compare.alpha,
        ),
    )


def score_baseline_held_out(
    name: str,
    seed: int,
    task: Task,
    features: dict[str, Any],
    targets: dict[str, np.ndarray],
    run_dir: Path,
) -> tuple[ModelEntry, np.ndarray]:
    """Fits one baseline on the train split and scores it on the test split.

    Args:
        name: the baseline.
        seed: seeds it.
        task: evaluates its outputs exactly as the Keras model's.
        features: split name -> the task's feature view of that split.
        targets: split name -> labels or values.
        run_dir: where XGBoost's JSON goes.

    Returns:
        Its leaderboard entry and its test outputs.
    """
    logger.info("Baseline %s: fitting on the train split", name)
    started = time.perf_counter()
    model = fit_baseline(
        name,
        task.problem,
        seed,
        (features["train"], targets["train"]),
        (features["val"], targets["val"]),
    )
    fit_seconds = time.perf_counter() - started
    started = time.perf_counter()
    outputs = task.problem.estimator_outputs(model, features["test"])
    predict_seconds = time.perf_counter() - started
    evaluation = task.evaluate(targets["test"], outputs, seed)
    entry = ModelEntry(
        name=name,
        label=BASELINES.get(name).label,
        metrics=evaluation.metrics,
        intervals=evaluation.intervals,
        fit_seconds=round(fit_seconds, 3),
        predict_ms_per_1k=round(predict_seconds / len(targets["test"]) * 1e6, 3),
        size_bytes=_size_bytes(name, model, run_dir),
        importances=_filter_importances(model),
    )
    return entry, outputs


@dataclasses.dataclass(frozen=True)
class Fold:
    """One fold of the cross-validation: its data (preprocessing refitted) and its task.

    Attributes:
        number: 1-based.
        data: the fold's splits: train and val from its training part, test the held-out part.
        task: the task fitted to the fold's data spec.
        seed: seeds the fold's models.
    """

    number: int
    data: Dataset
    task: Task
    seed: int


def cv_folds(config: RunConfig, task: Task, dataset: Dataset) -> list[Fold]:
    """The folds of repeated (stratified) k-fold over the dataset's pool of examples.

    Each fold's training part gives up `data.val_fraction` of its rows for
    early stopping; per-split preprocessing is refitted on each fold.
    """
    settings = config.compare
    labels = dataset.pool_labels
    splitter = task.problem.cv_splitter(settings.folds, settings.repeats, config.seed)
    folds = []
    for number, (train_and_val, test) in enumerate(
        splitter.split(np.zeros(len(labels)), labels), start=1
    ):
        class_names = dataset.spec.class_names or None
        train, val = split_indices(
            labels[train_and_val], (config.data.val_fraction,), config.seed + number, class_names
        )
        data = dataset.resplit(train_and_val[train], train_and_val[val], test)
        folds.append(
            Fold(number, data, type(task)(task.model_config, data.spec), config.seed + number)
        )
    return folds


def cross_validate(
    config: RunConfig,
    task: Task,
    dataset: Dataset,
    strategy: tf.distribute.Strategy,
    names: list[str],
    primary: str,
    epochs_run: int,
) -> CrossValRun:
    """Scores every model on each fold of repeated k-fold cross-validation.

    Every model is refitted on every fold. The Keras refits train one after
    the other on one compiled model (`RefitTrainer`), for the epochs
    `compare.cv_budget` allows; meanwhile a second thread fits the baselines,
    which then use the core the small Keras model leaves idle.

    Args:
        config: the run config.
        task: the run's task.
        dataset: the run's dataset (its pool of examples is folded).
        strategy: the strategy the Keras refits train under.
        names: the baselines.
        primary: the metric each fold is scored by.
        epochs_run: the epochs the run's own training ran (sizes the refits' budget).

    Returns:
        The per-fold scores, the folds' mean sizes and the refits' epochs.
    """
    folds = cv_folds(config, task, dataset)
    refit = fold_train_config(config, epochs_run, len(dataset.train), folds)
    logger.info(
        "Cross-validation: %d folds, every model refitted on each; Keras refits train %d "
        "epoch(s) each (%s)",
        len(folds),
        refit.epochs,
        _budget_reason(config, refit.epochs, epochs_run),
    )
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        baselines = pool.submit(fold_baseline_outputs, folds, names, task.problem)
        keras_outputs = keras_fold_outputs(refit, folds, strategy, primary)
        baseline_outputs = baselines.result()
    scores: dict[str, list[float]] = {KERAS: [], **{name: [] for name in names}}
    for fold in folds:
        outputs = {KERAS: keras_outputs[fold.number], **baseline_outputs[fold.number]}
        labels = fold.task.split_labels(fold.data.test)
        for name, output in outputs.items():
            scores[name].append(task.problem.score(primary, labels, output))
        summary = ", ".join(f"{name} {values[-1]:.4f}" for name, values in scores.items())
        logger.info(
            "Cross-validation fold %d/%d (%s): %s", fold.number, len(folds), primary, summary
        )
    return CrossValRun(
        scores=scores,
        train_rows=int(np.mean([len(fold.data.train) for fold in folds])),
        test_rows=int(np.mean([len(fold.data.test) for fold in folds])),
        keras_refit=KerasRefit(
            epochs=refit.epochs, run_epochs=epochs_run, cv_budget=config.compare.cv_budget
        ),
    )


@dataclasses.dataclass(frozen=True)
class CrossValRun:
    """What the cross-validation measured.

    Attributes:
        scores: model name -> its primary metric on each fold.
        train_rows: mean training rows per fold (the corrected t-test's n1).
        test_rows: mean test rows per fold (its n2).
        keras_refit: how long the Keras refits trained.
    """

    scores: dict[str, list[float]]
    train_rows: int
    test_rows: int
    keras_refit: KerasRefit

    def protocol(self, settings: CompareConfig) -> CrossValProtocol:
        """The cross-validation's shape, as `baselines.json` records it."""
        return CrossValProtocol(
            repeats=settings.repeats,
            folds=settings.folds,
            train_rows=self.train_rows,
            test_rows=self.test_rows,
            keras_refit=self.keras_refit,
        )


def fold_train_config(
    config: RunConfig, epochs_run: int, train_rows: int, folds: list[Fold]
) -> TrainConfig:
    """The train settings of the Keras refits: the run's, for the epochs the budget allows.

    With `compare.cv_budget` B, the refits of all folds together process at
    most B times the examples the run's training did (`epochs_run` epochs of
    `train_rows`): each gets `floor(B * epochs_run * train_rows / fold train
    rows)` epochs, at least 1 and at most `train.epochs`. The warm-up shrinks
    with the epochs, so the schedule has the run's shape.

    Returns:
        The refits' train section (no `stop_at`: that is the run's own target).
    """
    train = config.train
    epochs = train.epochs
    if config.compare.cv_budget is not None:
        fold_rows = sum(len(fold.data.train) for fold in folds)
        affordable = math.floor(config.compare.cv_budget * epochs_run * train_rows / fold_rows)
        epochs = max(1, min(train.epochs, affordable))
    return dataclasses.replace(
        train,
        epochs=epochs,
        warmup_epochs=train.warmup_epochs * epochs / train.epochs,
        stop_at=None,
    )


def _budget_reason(config: RunConfig, epochs: int, epochs_run: int) -> str:
    if config.compare.cv_budget is None:
        return "compare.cv_budget: null, as the run"
    if epochs == config.train.epochs:
        return f"train.epochs; compare.cv_budget {config.compare.cv_budget:g} allows as many"
    return (
        f"compare.cv_budget {config.compare.cv_budget:g} x the run's {epochs_run} epochs of "
        "training, shared by the folds; null refits with train.epochs"
    )


def keras_fold_outputs(
    config: TrainConfig, folds: list[Fold], strategy: tf.distribute.Strategy, primary: str
) -> dict[int, np.ndarray]:
    """Trains the Keras model on every fold, one compiled model for all (`RefitTrainer`).

    Returns:
        Fold number -> the fold model's outputs on the fold's test part.
    """
    trainer = RefitTrainer(config, strategy)
    progress = Progress("Cross-validation Keras refits", len(folds), logger, min_interval=0)
    outputs = {}
    for fold in folds:
        model = trainer.fit(fold.task, fold.data, fold.seed)
        test_input = make_input(
            fold.data.test, fold.task, config.batch_size, training=False, seed=0
        )
        outputs[fold.number] = model.predict(test_input, verbose=0)
        labels = fold.task.split_labels(fold.data.test)
        score = fold.task.problem.score(primary, labels, outputs[fold.number])
        progress.advance(f"fold {fold.number}/{len(folds)}, {primary} {score:.4f}")
    return outputs


def fold_baseline_outputs(
    folds: list[Fold], names: list[str], problem: Problem
) -> dict[int, dict[str, np.ndarray]]:
    """Fits every baseline on every fold's training part and predicts its test part.

    Returns:
        Fold number -> baseline name -> its test outputs.
    """
    progress = Progress("Cross-validation baselines", len(folds) * len(names), logger)
    outputs: dict[int, dict[str, np.ndarray]] = {}
    for fold in folds:
        data, outputs[fold.number] = fold.data, {}
        features = {
            s: fold.task.baseline_features(getattr(data, s)) for s in ("train", "val", "test")
        }
        for name in names:
            fitted = fit_baseline(
                name,
                problem,
                fold.seed,
                (features["train"], fold.task.split_labels(data.train)),
                (features["val"], fold.task.split_labels(data.val)),
            )
            outputs[fold.number][name] = problem.estimator_outputs(fitted, features["test"])
            progress.advance(f"fold {fold.number}/{len(folds)}, {name}")
    return outputs


def verdict(
    keras_label: str,
    best_label: str,
    metric: str,
    higher_is_better: bool,
    difference: float,
    test: PairedTest,
    alpha: float,
) -> str:
    """One sentence: who wins, by how much, and whether it is significant.

    Args:
        keras_label: e.g. "Keras mlp".
        best_label: the best baseline's label.
        metric: the primary metric.
        higher_is_better: its direction.
        difference: Keras minus the best baseline, in the metric's units.
        test: the paired test.
        alpha: the significance level.

    Returns:
        The verdict.
    """
    if metric in _PERCENT_METRICS:
        gap = f"{abs(difference) * 100:.2f} points of {metric}"
    else:
        gap = f"{abs(difference):.4g} {metric.upper() if metric in ('rmse', 'mae') else metric}"
    evidence = f"{test.name}, p = {test.p_value:.2g}"
    if test.p_value >= alpha:
        return (
            f"No significant difference between the {keras_label} and {best_label}, "
            f"the best baseline ({gap} apart; {evidence})."
        )
    keras_wins = (difference > 0) == higher_is_better
    if keras_wins:
        return f"The {keras_label} beats {best_label}, the best baseline, by {gap} ({evidence})."
    return f"{best_label} beats the {keras_label} by {gap} ({evidence})."


def _keras_entry(context: StageContext) -> ModelEntry:
    """The run's Keras model in the leaderboard: its test figures, timed prediction, size."""
    config, dataset, model = context.config, context.dataset, context.model
    test_input = make_input(
        dataset.test, context.task, config.train.batch_size, training=False, seed=0
    )
    model.predict(test_input.take(1), verbose=0)  # Warm up the predict function.
    started = time.perf_counter()
    model.predict(test_input, verbose=0)
    seconds = time.perf_counter() - started
    return ModelEntry(
        name=KERAS,
        label=f"Keras {config.model.name}",
        metrics=context.evaluation.metrics,
        intervals=context.evaluation.intervals,
        fit_seconds=round(context.trained.train_seconds, 3),
        predict_ms_per_1k=round(seconds / len(dataset.test) * 1e6, 3),
        size_bytes=RunDir(context.run_dir).model.stat().st_size,
    )


def _size_bytes(name: str, model, run_dir: Path) -> int:
    """XGBoost: its saved JSON file (plus its TF-IDF); others: their fitted state as pickled."""
    if isinstance(model, XGBoostClassifier | XGBoostRegressor):
        return model.save_json(RunDir(run_dir).baseline_models / f"{name}.json").stat().st_size
    if isinstance(model, TextXGBoost):
        trees = model.trees_.save_json(RunDir(run_dir).baseline_models / f"{name}.json")
        return trees.stat().st_size + fitted_bytes(model.features_)
    return fitted_bytes(model)


def _filter_importances(model) -> dict[str, float] | None:
    """A pixel baseline's importance per filter response (None for others, or without any)."""
    if not isinstance(model, PixelClassifier):
        return None
    return model.filter_importances() or None


def _cv_test(differences: np.ndarray, config: RunConfig, cv: CrossValRun) -> PairedTest:
    if (config.compare.repeats, config.compare.folds) == (5, 2):
        return paired_t_5x2cv(differences.reshape(5, 2))
    return corrected_resampled_t(differences, cv.train_rows, cv.test_rows)


def _test_result(
    test: PairedTest, compared: tuple[str, str], alpha: float | None = None
) -> PairedTestResult:
    return PairedTestResult(
        name=test.name,
        citation=test.citation,
        statistic=float(test.statistic) if np.isfinite(test.statistic) else None,
        p_value=float(test.p_value),
        compared=compared,
        alpha=alpha,
    )
