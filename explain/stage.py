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
from tasklab.explain import plots
from tasklab.explain.base import (
    EXPLAINERS,
    Attributions,
    Examples,
    ExplainerSpec,
    ExplainOptions,
    explained_outputs,
    predict,
    to_json,
)
from tasklab.explain.checks import deletion_check, importance_map, randomization_check
from tasklab.explain.gradients import completeness_error
from tasklab.explain.layouts import layout_for
from tasklab.explain.results import ExamplesSummary, ExplainResult, MethodResult
from tasklab.tasks.base import Task
from tasklab.training.context import StageContext
from tasklab.training.train import make_input, sample_inputs, split_inputs

logger = logging.getLogger(__name__)


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
        targets: the output explained per example, in the model's outputs.
        gradcam_layer: the layer Grad-CAM reads unless `explain.gradcam_layer` names one.
    """

    kind: str
    model: Any
    inputs: Any
    score: Callable[[np.ndarray, np.ndarray], np.ndarray]
    randomize: Callable[[], tuple[Any, str]]
    fill: np.ndarray
    channels_last: bool
    targets: np.ndarray
    gradcam_layer: str | None = None


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


def run(context: StageContext, settings: ExplainConfig) -> ExplainResult:
    """Runs every explanation method with its checks; writes `explain.json` and the plots.

    Args:
        context: the trained model and its run (the examples come from the
            test split; the model's test outputs are predicted when the
            context lacks them).
        settings: the `explain` section to run with.

    Returns:
        What `explain.json` holds.
    """
    context = context.with_settings("explain", settings)
    model, task, dataset, config = context.model, context.task, context.dataset, context.config
    run_dir, test_outputs = context.run_dir, context.test_outputs
    methods = resolve_methods(type(task), settings)
    examples = choose_examples(model, task, dataset, settings, config.seed, test_outputs)
    mistakes = (
        "" if examples.mistakes is None else f" ({int(examples.mistakes.sum())} misclassified)"
    )
    logger.info("Explaining %d test examples%s with %s", len(examples.rows), mistakes, methods)
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
            options = dataclasses.replace(
                options,
                reference=subject.fill,
                gradcam_layer=settings.gradcam_layer or subject.gradcam_layer,
            )
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
        logger.info("Explain: %s %s", name, entry.summary_line())
        progress.advance(f"{name} done")

    staging = run_dir / f".{RunDir.EXPLAIN_PLOTS}.partial"
    shutil.rmtree(staging, ignore_errors=True)
    io.make_dir(staging)
    layout = layout_for(task)
    result = ExplainResult(
        task=task.name,
        explain_input=task.explain_input,
        examples=_examples_summary(examples),
        methods=tuple(entries),
        **layout.summary(attributions, examples, task, dataset),
    )
    figures = {"deletion_curves": plots.deletion_curves_png(result.ran)}
    if attributions:
        keras_inputs = subjects.built_inputs("keras")
        figures.update(layout.figures(result, attributions, examples, task, dataset, keras_inputs))
    result = dataclasses.replace(result, plots=write_plots(staging, figures))
    io.replace_dir(staging, RunDir(run_dir).explain_plots)
    result.write(RunDir(run_dir).explain)
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
    """Picks the test examples to explain, as the problem chooses (classes: half misclassified).

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
    labels = np.asarray(task.split_labels(test))
    rows = task.problem.examples_to_explain(labels, outputs, count, np.random.default_rng(seed))
    explained = task.problem.explained(outputs[rows])
    return Examples(
        rows=rows,
        inputs=split_inputs(test, task, settings.batch_size, seed, rows),
        labels=labels[rows],
        predicted=explained.predicted,
        targets=explained.targets.astype(int),
        confidence=np.asarray(explained.confidence, dtype=np.float64),
        mistakes=task.problem.mistakes(labels[rows], explained.predicted),
        output_scale=task.problem.output_scale(explained.confidence),
    )


def explain_with_checks(
    name: str,
    spec: ExplainerSpec,
    subject: Subject,
    examples: Examples,
    options: ExplainOptions,
    settings: ExplainConfig,
) -> tuple[MethodResult, Attributions]:
    """Explains the examples with one method and runs its checks.

    Returns:
        The method's `explain.json` entry and its attributions.
    """
    attributions = spec.explain(subject.model, subject.inputs, subject.targets, options)
    checks = additivity_checks(spec, subject, attributions, examples, settings)
    importances = importance_map(attributions.values, spec.signed, subject.channels_last)
    randomized, how = subject.randomize()
    # Says what a second round of the method's progress lines is.
    logger.info("Explain: %s of the randomized model (for the randomization check)", name)
    random_attributions = spec.explain(randomized, subject.inputs, subject.targets, options)
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
    entry = MethodResult(
        name=name,
        model=spec.model,
        description=spec.description,
        algorithm=attributions.algorithm or name,
        seconds_per_example=to_json(attributions.seconds_per_example),
        examples=len(examples.rows),
        checks=to_json_tree(checks),
    )
    return entry, attributions


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
    # Values carry the target's units (float32 sums of a thousand trees near 1,000 are off
    # by ~1e-3): the tolerance scales with them, as the export gate's difference does.
    tolerance = examples.output_scale * (
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

    def built_inputs(self, model: str) -> Any:
        """The inputs of a model's subject when it was built (None otherwise)."""
        subject = self._subjects.get(model)
        return None if subject is None or isinstance(subject, str) else subject.inputs

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

    The task says what of it is explained, over which inputs (`Task.explanation_subject`):
    a speech model, the part after its front end over the examples' spectrograms.
    """
    task, config, examples = run.task, run.config, run.examples
    explained = task.explanation_subject(run.model, examples.inputs)
    model = explained.model
    targets = examples.targets if explained.targets is None else explained.targets

    def score(rows: np.ndarray, index: np.ndarray) -> np.ndarray:
        outputs = predict(model, rows, max(256, config.explain.batch_size))
        return explained_outputs(outputs, targets[index])

    def randomize() -> tuple[keras.Model, str]:
        keras.utils.set_random_seed(config.seed + 1)
        return keras.models.clone_model(model), "weights re-initialized (keras clone_model)"

    return Subject(
        kind="keras",
        model=model,
        inputs=explained.inputs,
        score=score,
        randomize=randomize,
        fill=explained.fill,
        channels_last=layout_for(task).channels_last,
        targets=targets,
        gradcam_layer=explained.gradcam_layer,
    )


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
    frame = task.baseline_features(dataset.test).iloc[examples.rows]

    def score(rows: np.ndarray, index: np.ndarray) -> np.ndarray:
        outputs = task.problem.estimator_outputs(trees, _typed_like(rows, frame))
        return explained_outputs(np.asarray(outputs, dtype=np.float64), examples.targets[index])

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
        targets=examples.targets,
    )


def write_plots(folder: Path, figures: dict[str, bytes | None]) -> dict[str, str]:
    """Writes the stage's figures into `folder` (a figure of None has nothing to draw).

    Returns:
        Plot name -> its path relative to the run directory.
    """
    written = {}
    for name, png in figures.items():
        if png is not None:
            io.write_bytes(folder / f"{name}.png", png)
            written[name] = f"{RunDir.EXPLAIN_PLOTS}/{name}.png"
    return written


def _typed_like(rows: np.ndarray, frame: pd.DataFrame) -> pd.DataFrame:
    """Rows of an object array back as a frame with `frame`'s column types (NaN stays missing)."""
    return pd.DataFrame(rows, columns=frame.columns).astype(frame.dtypes.to_dict())


def _as_array(inputs: Any) -> np.ndarray:
    if isinstance(inputs, pd.DataFrame):
        return inputs.to_numpy(dtype=object)
    return inputs


def _examples_summary(examples: Examples) -> ExamplesSummary:
    return ExamplesSummary(
        count=len(examples.rows),
        test_rows=tuple(int(row) for row in examples.rows),
        misclassified=None if examples.mistakes is None else int(examples.mistakes.sum()),
    )


def _skipped(name: str, spec: ExplainerSpec, reason: str) -> MethodResult:
    return MethodResult(
        name=name,
        model=spec.model,
        description=spec.description,
        seconds_per_example=None,
        checks={},
        skipped=reason,
    )


def to_json_tree(value: Any) -> Any:
    """numpy values anywhere in nested dicts and lists as plain JSON values."""
    if isinstance(value, dict):
        return {key: to_json_tree(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [to_json_tree(item) for item in value]
    return to_json(value)
