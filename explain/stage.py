"""The explain stage: every method on chosen test examples, with its sanity checks and plots.

For each method the task lists (or `explain.methods` names):

1. explain the chosen test examples (the predicted class of each);
2. check additivity or completeness where the method promises it;
3. model randomization: explain the same examples with a randomized model
   (Keras: the same architecture with re-initialized weights; XGBoost, which
   has no weights: refitted on permuted labels) and compare the rankings;
4. deletion: delete features in attribution order and in random orders and
   compare the areas under the explained output's curves.

Tabular runs also compare the global importance of the Keras model and the
XGBoost baseline (both SHAP, summed onto the input columns); text runs keep
the token attributions of a few examples spread over their words (or
characters) for the report to highlight. The run directory gets:

    explain.json         per method: name, model, seconds_per_example, checks;
                         `importance` (tables), `highlights` (texts)
    explain/*.png        overlays (images), bar and beeswarm plots (tables),
                         deletion curves
"""

from __future__ import annotations

import dataclasses
import logging
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import keras
import numpy as np
import pandas as pd

import tasklab.explain.shap_methods  # noqa: F401  (registers the SHAP methods in EXPLAINERS)
from tasklab.core import io
from tasklab.core.config import ConfigError, ExplainConfig, RunConfig
from tasklab.core.progress import Progress
from tasklab.core.registry import closest_hint
from tasklab.core.run_dir import RunDir
from tasklab.data import Dataset
from tasklab.data.text import TEXT_COLUMN
from tasklab.edge.text_tokens import TextTokenizer
from tasklab.explain import plots
from tasklab.explain.base import (
    EXPLAINERS,
    Attributions,
    ExplainerSpec,
    ExplainOptions,
    explained_outputs,
    predict,
    to_json,
)
from tasklab.explain.checks import deletion_check, importance_map, randomization_check
from tasklab.explain.gradients import completeness_error
from tasklab.explain.importance import global_importance, importance_by_column, rank_agreement
from tasklab.explain.tokens import highlight
from tasklab.tasks.base import Task
from tasklab.tasks.keyword_spotting import CLASSIFIER_LAYER, SPECTROGRAM_LAYER
from tasklab.training.train import make_input, sample_inputs, split_inputs

logger = logging.getLogger(__name__)

MAX_SHOWN = 8  # Examples per overlay figure (correct, then misclassified).
MAX_HIGHLIGHTED_UNITS = 400  # Words or characters of a text shown highlighted in the report.


@dataclasses.dataclass(frozen=True)
class Examples:
    """The test examples every method explains.

    Attributes:
        rows: their indices in the test split (increasing).
        inputs: `(examples, *input_shape)` model-ready inputs.
        labels: true labels (classes, or values for regression).
        predicted: the Keras model's predicted class (the value for regression).
        targets: the output explained per example: the predicted class (0 for regression).
        confidence: the predicted class's probability (the value for regression).
    """

    rows: np.ndarray
    inputs: np.ndarray
    labels: np.ndarray
    predicted: np.ndarray
    targets: np.ndarray
    confidence: np.ndarray

    @property
    def correct(self) -> np.ndarray:
        """Whether each example is classified correctly."""
        return self.predicted == self.labels


@dataclasses.dataclass(frozen=True)
class Subject:
    """A model as the checks see it: what it explains, how it scores, how it is randomized.

    Attributes:
        kind: `keras` or `xgboost`.
        model: the model explainers receive.
        inputs: the examples as that model takes them (array, or a DataFrame).
        score: `score(rows, example_index) -> (rows,)` the explained output of
            each row, for the target of the example it was made from.
        randomize: returns the randomized copy and a sentence saying how.
        fill: what a deleted feature becomes.
        channels_last: attributions of a pixel's channels are summed.
    """

    kind: str
    model: Any
    inputs: Any
    score: Callable[[np.ndarray, np.ndarray], np.ndarray]
    randomize: Callable[[], tuple[Any, str]]
    fill: np.ndarray
    channels_last: bool


@dataclasses.dataclass(frozen=True)
class ExplainedRun:
    """What the subjects of one explain stage are built from."""

    model: keras.Model
    task: Task
    dataset: Dataset
    config: RunConfig
    run_dir: Path
    examples: Examples


def resolve_methods(task: type[Task], config: ExplainConfig) -> list[str]:
    """The methods to run: `explain.methods`, else the task's, each checked against the task.

    Raises:
        ConfigError: for an unknown method or one that cannot explain the task's input.
    """
    names = list(task.explain_methods if config.methods is None else config.methods)
    for name in names:
        if name not in EXPLAINERS:
            raise ConfigError(
                f"explain.methods lists unknown method '{name}'. Methods for the task "
                f"'{task.name}': {list(methods_for(task))}."
                + closest_hint(name, EXPLAINERS.names())
            )
        if task.explain_input not in EXPLAINERS.get(name).inputs:
            raise ConfigError(
                f"The method '{name}' explains {sorted(EXPLAINERS.get(name).inputs)}, but the "
                f"task '{task.name}' is explained over {task.explain_input}. Methods for this "
                f"task: {list(methods_for(task))}."
            )
    return names


def methods_for(task: type[Task]) -> list[str]:
    """Every registered method that can explain the task's input."""
    return [
        name for name in EXPLAINERS.names() if task.explain_input in EXPLAINERS.get(name).inputs
    ]


def explain_model(
    model: keras.Model,
    task: Task,
    dataset: Dataset,
    config: RunConfig,
    run_dir: Path,
    test_outputs: np.ndarray | None = None,
) -> dict[str, Any]:
    """Runs every explanation method with its checks; writes `explain.json` and the plots.

    Args:
        model: the trained Keras model.
        task: the run's task.
        dataset: the run's dataset (the examples come from its test split).
        config: the run config (its `explain` section).
        run_dir: the run directory.
        test_outputs: the model's outputs on the whole test split, when the
            caller has them (a run does); otherwise they are predicted here.

    Returns:
        What `explain.json` holds.
    """
    settings = config.explain
    methods = resolve_methods(type(task), settings)
    examples = choose_examples(model, task, dataset, settings, config.seed, test_outputs)
    logger.info(
        "Explaining %d test examples (%d misclassified) with %s",
        len(examples.rows),
        int((~examples.correct).sum()) if task.problem == "classification" else 0,
        methods,
    )
    options = explain_options(settings, task, config.seed)
    subjects = _SubjectCache(ExplainedRun(model, task, dataset, config, run_dir, examples))
    entries, attributions = [], {}
    progress = Progress("Explain", len(methods), logger, min_interval=0)
    for name in methods:
        spec = EXPLAINERS.get(name)
        subject = subjects.get(spec)
        if isinstance(subject, str):
            logger.warning("Explain: skipping %s: %s", name, subject)
            entries.append(_skipped(name, spec, subject))
            progress.advance(f"{name} skipped")
            continue
        if spec.needs_background:
            options = subjects.with_background(options)
        if subject.kind == "keras":
            # Integrated Gradients starts where deletion fills: the task's "absent" input,
            # in the space the subject is explained over (a silent clip's spectrogram).
            options = dataclasses.replace(options, reference=subject.fill)
        logger.info("Explain: %s (%s model)", name, spec.model)
        try:
            entry, values = explain_with_checks(name, spec, subject, examples, options, settings)
        except ValueError as error:  # A method that does not apply to this model, e.g. Grad-CAM.
            logger.warning("Explain: skipping %s: %s", name, error)
            entries.append(_skipped(name, spec, str(error)))
            progress.advance(f"{name} skipped")
            continue
        entries.append(entry)
        attributions[name] = values
        logger.info("Explain: %s %s", name, summary_line(entry))
        progress.advance(f"{name} done")

    staging = run_dir / f".{RunDir.EXPLAIN_PLOTS}.partial"
    shutil.rmtree(staging, ignore_errors=True)
    io.make_dir(staging)
    result = {
        "task": task.name,
        "explain_input": task.explain_input,
        "examples": _examples_json(examples, task),
        "methods": entries,
    }
    if task.explain_input == "features":
        result["importance"] = column_importance(attributions, task)
    if task.explain_input == "tokens":
        result["highlights"] = text_highlights(attributions, examples, task, dataset)
    pictures = None
    if task.explain_input == "spectrogram" and attributions:
        pictures = subjects.get(EXPLAINERS.get(next(iter(attributions)))).inputs
    result["plots"] = write_plots(staging, result, attributions, examples, task, dataset, pictures)
    io.replace_dir(staging, RunDir(run_dir).explain_plots)
    io.write_json(RunDir(run_dir).explain, result)
    return result


def explain_options(settings: ExplainConfig, task: Task, seed: int) -> ExplainOptions:
    """The explain functions' options from the config section and the task's reference input."""
    return ExplainOptions(
        batch_size=settings.batch_size,
        ig_steps=settings.ig_steps,
        ig_max_steps=settings.ig_max_steps,
        ig_tolerance=settings.completeness_tolerance,
        smoothgrad_samples=settings.smoothgrad_samples,
        smoothgrad_noise=settings.smoothgrad_noise,
        gradcam_layer=settings.gradcam_layer,
        reference=task.reference_input(),
        seed=seed,
    )


def choose_examples(
    model: keras.Model,
    task: Task,
    dataset: Dataset,
    settings: ExplainConfig,
    seed: int,
    test_outputs: np.ndarray | None = None,
) -> Examples:
    """Picks the test examples to explain: half misclassified (where there are so many).

    Args:
        model: the trained Keras model.
        task: the run's task.
        dataset: the run's dataset.
        settings: the `explain` section (how many examples).
        seed: seeds the choice.
        test_outputs: the model's outputs on the whole test split (default: predicted here).

    Returns:
        The examples, their inputs and the Keras model's predictions on them.
    """
    test = dataset.test
    count = min(settings.examples or task.explain_examples, len(test.labels))
    outputs = test_outputs
    if outputs is None:
        batches = make_input(test, task, settings.batch_size, training=False, seed=seed)
        outputs = model.predict(batches, verbose=0)
    rng = np.random.default_rng(seed)
    if task.problem == "classification":
        predicted = outputs.argmax(axis=1)
        wrong = np.flatnonzero(predicted != test.labels)
        right = np.flatnonzero(predicted == test.labels)
        wrong = rng.choice(wrong, size=min(len(wrong), count // 2), replace=False)
        right = rng.choice(right, size=min(len(right), count - len(wrong)), replace=False)
        rows = np.sort(np.concatenate([wrong, right]).astype(int))
        targets = predicted[rows]
        confidence = outputs[rows, targets]
    else:
        rows = np.sort(rng.choice(len(test.labels), size=count, replace=False))
        predicted = outputs.reshape(-1)
        targets = np.zeros(len(rows), dtype=int)
        confidence = predicted[rows]
    return Examples(
        rows=rows,
        inputs=split_inputs(test, task, settings.batch_size, seed, rows),
        labels=np.asarray(test.labels)[rows],
        predicted=predicted[rows],
        targets=targets.astype(int),
        confidence=np.asarray(confidence, dtype=np.float64),
    )


def explain_with_checks(
    name: str,
    spec: ExplainerSpec,
    subject: Subject,
    examples: Examples,
    options: ExplainOptions,
    settings: ExplainConfig,
) -> tuple[dict[str, Any], Attributions]:
    """Explains the examples with one method and runs its checks.

    Returns:
        The method's `explain.json` entry and its attributions.
    """
    attributions = spec.explain(subject.model, subject.inputs, examples.targets, options)
    checks = additivity_checks(spec, subject, attributions, examples, settings)
    importances = importance_map(attributions.values, spec.signed, subject.channels_last)
    randomized, how = subject.randomize()
    # Says what a second round of the method's progress lines is.
    logger.info("Explain: %s of the randomized model (for the randomization check)", name)
    random_attributions = spec.explain(randomized, subject.inputs, examples.targets, options)
    random_importances = importance_map(
        random_attributions.values, spec.signed, subject.channels_last
    )
    checks["randomization"] = {
        **randomization_check(
            importances, random_importances, settings.max_randomization_correlation
        ),
        "randomized": how,
    }
    checks["deletion"] = deletion_check(
        subject.score,
        _as_array(subject.inputs),
        importances,
        subject.fill,
        settings.deletion_steps,
        settings.deletion_random_orders,
        options.seed,
    )
    entry = {
        "name": name,
        "model": spec.model,
        "description": spec.description,
        "algorithm": attributions.algorithm or name,
        "seconds_per_example": attributions.seconds_per_example,
        "examples": len(examples.rows),
        "checks": checks,
    }
    return to_json_tree(entry), attributions


def additivity_checks(
    spec: ExplainerSpec,
    subject: Subject,
    attributions: Attributions,
    examples: Examples,
    settings: ExplainConfig,
) -> dict[str, dict[str, Any]]:
    """Completeness (Integrated Gradients) or additivity (SHAP), per the method's promise.

    Returns:
        `{check name: {value, passed, ...}}`; empty for methods that promise neither.
    """
    if spec.sums_to == "completeness":
        errors = completeness_error(attributions)
        return {
            "completeness": {
                "value": float(errors.max()),
                "tolerance": settings.completeness_tolerance,
                "space": attributions.output_space,
                "steps": attributions.extras["steps"].tolist(),
                "per_example": [
                    {"row": int(row), "error": float(error), "steps": int(steps)}
                    for row, error, steps in zip(
                        examples.rows, errors, attributions.extras["steps"], strict=True
                    )
                ],
                "passed": bool(errors.max() <= settings.completeness_tolerance),
            }
        }
    if spec.sums_to != "additivity":
        return {}
    errors = attributions.additivity_error()
    tolerance = (
        settings.tree_additivity_tolerance
        if subject.kind == "xgboost"
        else settings.keras_additivity_tolerance
    )
    promised = attributions.promises_additivity
    return {
        "additivity": {
            "value": float(errors.max()),
            "mean": float(errors.mean()),
            "tolerance": tolerance,
            "space": "margin (log-odds)" if subject.kind == "xgboost" else "model output",
            "promised": promised,
            # GradientExplainer (expected gradients) promises no additivity: its error is
            # reported, not judged.
            "passed": bool(errors.max() <= tolerance) if promised else None,
        }
    }


class _SubjectCache:
    """Builds each model's `Subject` once, on first use (the XGBoost one reloads a file)."""

    def __init__(self, run: ExplainedRun):
        self._run = run
        self._subjects: dict[str, Subject | str] = {}
        self._background: np.ndarray | None = None

    def get(self, spec: ExplainerSpec) -> Subject | str:
        """The subject of a method's model, or why there is none."""
        if spec.model not in self._subjects:
            build = keras_subject if spec.model == "keras" else xgboost_subject
            self._subjects[spec.model] = build(self._run)
        return self._subjects[spec.model]

    def with_background(self, options: ExplainOptions) -> ExplainOptions:
        """The options with a stratified train sample as SHAP's background."""
        if self._background is None:
            run = self._run
            self._background = sample_inputs(
                run.dataset.train,
                run.task,
                run.config.explain.background,
                run.config.train.batch_size,
                run.config.seed,
            )
        return dataclasses.replace(options, background=self._background)


def keras_subject(run: ExplainedRun) -> Subject:
    """The Keras model: randomized by re-initializing every weight (same architecture).

    A speech model is explained over its log-mel spectrogram: the subject is
    the part of the model after its front end, fed the examples' spectrograms
    (see `SpectrogramSpace`).
    """
    model, task, config, examples = run.model, run.task, run.config, run.examples
    inputs, fill = examples.inputs, task.reference_input()
    if task.explain_input == "spectrogram":
        space = SpectrogramSpace(model)
        model, inputs, fill = (
            space.back,
            space.spectrograms(inputs),
            space.spectrograms(fill[None])[0],
        )

    def score(rows: np.ndarray, index: np.ndarray) -> np.ndarray:
        outputs = predict(model, rows, max(256, config.explain.batch_size))
        return explained_outputs(outputs, examples.targets[index])

    def randomize() -> tuple[keras.Model, str]:
        keras.utils.set_random_seed(config.seed + 1)
        return keras.models.clone_model(model), "weights re-initialized (keras clone_model)"

    return Subject(
        kind="keras",
        model=model,
        inputs=inputs,
        score=score,
        randomize=randomize,
        fill=fill,
        channels_last=task.explain_input in ("pixels", "spectrogram"),
    )


class SpectrogramSpace:
    """A speech model split at its spectrogram: `front(audio)` and `back(spectrogram)`.

    Saliency over raw samples is unreadable; over the log-mel spectrogram
    the model computes, it shows which times and frequencies decided. The
    front end is fixed signal processing, so explaining the back (the
    nested classifier model) is explaining everything the model learned.

    Args:
        model: a keyword model (`tasks.keyword_spotting.with_front_end`).

    Raises:
        ValueError: when the model lacks the front end or the classifier.
    """

    def __init__(self, model: keras.Model):
        try:
            layer = model.get_layer(SPECTROGRAM_LAYER)
            self.back = model.get_layer(CLASSIFIER_LAYER)
        except ValueError:
            raise ValueError(
                f"The model lacks a layer '{SPECTROGRAM_LAYER}' or a nested model "
                f"'{CLASSIFIER_LAYER}', so it cannot be explained over its spectrogram. Keyword "
                "models built by tasklab have both."
            ) from None
        self.front = keras.Model(model.inputs[0], layer.output, name="front_end")

    def spectrograms(self, audio: np.ndarray) -> np.ndarray:
        """`(clips, frames, mels, 1)` log-mel spectrograms of raw clips."""
        flat = predict(self.front, audio)
        return flat.reshape(len(audio), *self.front.output.shape[1:]).astype(np.float32)


def xgboost_subject(run: ExplainedRun) -> Subject | str:
    """The run's XGBoost baseline, reloaded; randomized by refitting it on permuted labels.

    Returns:
        The subject, or why there is none (the run has no XGBoost baseline).
    """
    from tasklab.baselines.models import fit_baseline
    from tasklab.baselines.xgboost_model import load_xgboost_baseline, xgboost_baseline_path

    task, dataset, config, examples = run.task, run.dataset, run.config, run.examples
    trees = load_xgboost_baseline(run.run_dir, task.problem)
    if trees is None:
        return (
            f"the run has no XGBoost baseline ({xgboost_baseline_path(run.run_dir)} is "
            "missing); keep 'xgboost' in 'baselines' to explain it"
        )
    classification = task.problem == "classification"
    frame = task.baseline_features(dataset.test).iloc[examples.rows]

    def score(rows: np.ndarray, index: np.ndarray) -> np.ndarray:
        typed = _typed_like(rows, frame)
        if classification:
            return explained_outputs(trees.predict_proba(typed), examples.targets[index])
        return np.asarray(trees.predict(typed), dtype=np.float64)

    def randomize() -> tuple[Any, str]:
        # Trees have no weights to re-initialize; Adebayo et al.'s data randomization
        # test (the same learner fitted on permuted labels) is the analogue.
        rng = np.random.default_rng(config.seed + 1)
        train, val = dataset.train, dataset.val
        permuted = fit_baseline(
            "xgboost",
            task.problem,
            config.seed,
            (task.baseline_features(train), rng.permutation(train.labels)),
            (task.baseline_features(val), rng.permutation(val.labels)),
        )
        return permuted, "refitted on permuted train labels (data randomization)"

    return Subject(
        kind="xgboost",
        model=trees,
        inputs=frame,
        score=score,
        randomize=randomize,
        # A deleted column is missing: XGBoost routes missing values natively.
        fill=np.full(frame.shape[1], np.nan, dtype=object),
        channels_last=False,
    )


def text_highlights(
    attributions: dict[str, Attributions], examples: Examples, task: Task, dataset: Dataset
) -> list[dict[str, Any]]:
    """Up to 8 correct and 8 misclassified texts with each method's weight per word or character.

    Returns:
        One entry per text: its test row, true and predicted class, the
        predicted class's probability, and per method `[unit, weight]` pairs
        (`joiner` says how the units join back into text).
    """
    if not attributions:
        return []
    tokenizer = TextTokenizer(task.edge_input())
    texts = task.baseline_features(dataset.test)[TEXT_COLUMN].to_numpy()
    names = task.spec.class_names
    shown = [
        *np.flatnonzero(examples.correct)[:MAX_SHOWN],
        *np.flatnonzero(~examples.correct)[:MAX_SHOWN],
    ]
    return [
        {
            "test_row": int(examples.rows[index]),
            "label": names[int(examples.labels[index])],
            "predicted": names[int(examples.predicted[index])],
            "confidence": float(examples.confidence[index]),
            "correct": bool(examples.correct[index]),
            "joiner": "" if tokenizer.mode == "char" else " ",
            "methods": {
                name: highlight(texts[examples.rows[index]], values.values[index], tokenizer)[
                    :MAX_HIGHLIGHTED_UNITS
                ]
                for name, values in attributions.items()
            },
        }
        for index in shown
    ]


def column_importance(attributions: dict[str, Attributions], task: Task) -> dict[str, Any]:
    """Global importance (mean |SHAP|) per input column of each model, and their rank agreement.

    The Keras model's encoded features (one-hot blocks, missing flags) are
    summed back onto their columns so both models are ranked over the same columns.

    Returns:
        `columns`, `by_method` {method: importances} and, when both SHAP
        methods ran, `agreement` (Spearman and Kendall with p-values).
    """
    columns = [column.name for column in task.spec.schema.columns]
    by_method = {
        name: global_importance(on_columns(name, values, task)).tolist()
        for name, values in attributions.items()
    }
    result: dict[str, Any] = {"columns": columns, "by_method": by_method}
    if "keras_shap" in by_method and "tree_shap" in by_method:
        agreement = rank_agreement(
            np.asarray(by_method["keras_shap"]), np.asarray(by_method["tree_shap"])
        )
        result["agreement"] = {
            "compared": ["keras_shap", "tree_shap"],
            **agreement,
            "reading": agreement_reading(agreement),
        }
    return result


def on_columns(name: str, attributions: Attributions, task: Task) -> np.ndarray:
    """A table method's attributions per input column, `(examples, columns)`.

    XGBoost is explained on the columns already; a Keras model on the
    encoded features, whose attributions are summed back onto their columns.
    """
    if EXPLAINERS.get(name).model == "xgboost":
        return attributions.values
    schema = task.spec.schema
    columns = [column.name for column in schema.columns]
    return importance_by_column(attributions.values, schema.feature_names, columns)


def agreement_reading(agreement: dict[str, float], alpha: float = 0.05) -> str:
    """A sentence saying whether two models rank the columns alike (Spearman, at `alpha`)."""
    rho, p_value = agreement["spearman"], agreement["spearman_p_value"]
    if not np.isfinite(rho) or p_value >= alpha:
        return "no significant agreement: the two models rank the features differently"
    if rho < 0:
        return "significant disagreement: what one model relies on most, the other relies on least"
    strength = "strong" if rho >= 0.7 else "moderate" if rho >= 0.4 else "weak"
    return f"{strength}, significant agreement: the two models rely on similar features"


def write_plots(
    folder: Path,
    result: dict[str, Any],
    attributions: dict[str, Attributions],
    examples: Examples,
    task: Task,
    dataset: Dataset,
    pictures: np.ndarray | None = None,
) -> dict[str, str]:
    """Draws the stage's figures into `folder`.

    Args:
        folder: where the PNG files go.
        result: what `explain.json` holds so far.
        attributions: method -> its attributions.
        examples: the explained examples.
        task: the run's task.
        dataset: the run's dataset.
        pictures: what the maps are drawn over when it is not the inputs
            themselves (the spectrograms of audio clips).

    Returns:
        Plot name -> its path relative to the run directory.
    """
    figures: dict[str, bytes | None] = {
        "deletion_curves": plots.deletion_curves_png(result["methods"])
    }
    if task.explain_input in ("pixels", "spectrogram") and attributions:
        class_names = task.spec.class_names
        for label, chosen in (("correct", examples.correct), ("misclassified", ~examples.correct)):
            figures[f"overlays_{label}"] = plots.overlays_png(
                examples,
                np.flatnonzero(chosen)[:MAX_SHOWN],
                attributions,
                class_names,
                spectrograms=pictures,
            )
    if task.explain_input == "features" and attributions:
        frame = task.baseline_features(dataset.test).iloc[examples.rows]
        figures.update(_table_plots(result["importance"], attributions, frame, task))
    written = {}
    for name, png in figures.items():
        if png is not None:
            io.write_bytes(folder / f"{name}.png", png)
            written[name] = f"{RunDir.EXPLAIN_PLOTS}/{name}.png"
    return written


def _table_plots(
    importance: dict[str, Any],
    attributions: dict[str, Attributions],
    frame: pd.DataFrame,
    task: Task,
) -> dict[str, bytes | None]:
    """The importance bars, and a beeswarm per method over the input columns."""
    columns = importance["columns"]
    figures = {"importance_bar": plots.importance_bar_png(importance)}
    for name, values in attributions.items():
        per_column = on_columns(name, values, task)
        figures[f"beeswarm_{name}"] = plots.beeswarm_png(per_column, frame, columns, name)
    return figures


def _typed_like(rows: np.ndarray, frame: pd.DataFrame) -> pd.DataFrame:
    """Rows of an object array back as a frame with `frame`'s column types (NaN stays missing)."""
    return pd.DataFrame(rows, columns=frame.columns).astype(frame.dtypes.to_dict())


def _as_array(inputs: Any) -> np.ndarray:
    if isinstance(inputs, pd.DataFrame):
        return inputs.to_numpy(dtype=object)
    return inputs


def _examples_json(examples: Examples, task: Task) -> dict[str, Any]:
    result = {"count": len(examples.rows), "test_rows": examples.rows.tolist()}
    if task.problem == "classification":
        result["misclassified"] = int((~examples.correct).sum())
    return result


def _skipped(name: str, spec: ExplainerSpec, reason: str) -> dict[str, Any]:
    return {
        "name": name,
        "model": spec.model,
        "description": spec.description,
        "seconds_per_example": None,
        "checks": {},
        "skipped": reason,
    }


def summary_line(entry: dict[str, Any]) -> str:
    """One line for a method's entry: its time per example and each check's value and verdict."""
    if "skipped" in entry:
        return f"skipped: {entry['skipped']}"
    parts = [f"{entry['seconds_per_example'] * 1000:.2f} ms/example"]
    for check, outcome in entry["checks"].items():
        verdict = {True: "passed", False: "FAILED", None: "reported"}[outcome["passed"]]
        parts.append(f"{check} {outcome['value']:.4g} {verdict}")
    return ", ".join(parts)


def to_json_tree(value: Any) -> Any:
    """numpy values anywhere in nested dicts and lists as plain JSON values."""
    if isinstance(value, dict):
        return {key: to_json_tree(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [to_json_tree(item) for item in value]
    return to_json(value)
