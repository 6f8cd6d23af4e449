"""SHAP for the XGBoost baseline (TreeExplainer) and for Keras models.

Tree SHAP is exact and works in margin (log-odds) space, where additivity
holds to float precision. For Keras models, DeepExplainer is tried first (it
promises additivity), then GradientExplainer (expected gradients: no
additivity promise), then the model-agnostic PermutationExplainer (exact
additivity by construction, slower). The explainer that ran is recorded.
"""

from __future__ import annotations

import logging
import time
import warnings

import keras
import numpy as np
import pandas as pd
import shap

from tasklab.explain.base import (
    Attributions,
    ExplainOptions,
    explained_outputs,
    predict,
    register_explainer,
)

logger = logging.getLogger(__name__)


@register_explainer(
    "tree_shap",
    "xgboost",
    {"features"},
    "exact Tree SHAP of XGBoost (margin)",
    sums_to="additivity",
)
def tree_shap(
    model, frame: pd.DataFrame, targets: np.ndarray, options: ExplainOptions
) -> Attributions:
    """Tree SHAP of the XGBoost baseline in margin space, for each example's target class.

    Args:
        model: a fitted `XGBoostClassifier` or `XGBoostRegressor` (its `model_`).
        frame: the typed columns, as the baseline takes them.
        targets: the class explained per example (0 for regression).
        options: unused (Tree SHAP needs no settings).

    Returns:
        Attributions per column; for a binary model the margin of class 1,
        negated for examples explaining class 0 (the margin of class 0 is
        its negative), so additivity holds for every target.
    """
    started = time.perf_counter()
    explainer = shap.TreeExplainer(model.model_)
    booster_frame = model.booster_input(frame)
    values = np.asarray(explainer.shap_values(booster_frame), dtype=np.float64)
    expected = np.asarray(explainer.expected_value, dtype=np.float64)
    margins = np.asarray(model.model_.predict(booster_frame, output_margin=True), dtype=np.float64)
    rows = np.arange(len(frame))
    if values.ndim == 3:  # Multi-class: (rows, columns, classes).
        values = values[rows, :, targets]
        base, outputs = expected[targets], margins[rows, targets]
    else:
        sign = np.where(np.asarray(targets) == 0, -1.0, 1.0) if _is_binary(model) else 1.0
        values = values * np.reshape(sign, (-1, 1))
        base, outputs = float(expected) * sign, margins * sign
    return Attributions(
        values=values,
        base_values=np.broadcast_to(base, (len(frame),)).astype(np.float64),
        targets=np.asarray(targets),
        outputs=outputs,
        seconds_per_example=(time.perf_counter() - started) / len(frame),
        algorithm="tree",
        promises_additivity=True,
    )


def _is_binary(model) -> bool:
    return len(getattr(model, "classes_", ())) == 2


@register_explainer(
    "keras_shap",
    "keras",
    {"features"},
    "SHAP of the Keras model (Deep, Gradient or Permutation)",
    needs_background=True,
    sums_to="additivity",
)
def keras_shap(
    model: keras.Model, inputs: np.ndarray, targets: np.ndarray, options: ExplainOptions
) -> Attributions:
    """SHAP values of a Keras model's target output, by the first algorithm that works.

    Args:
        model: the Keras model (its output: class probabilities or a value).
        inputs: `(examples, features)` model inputs.
        targets: the class explained per example (0 for regression).
        options: `background`, the train sample SHAP integrates over.

    Returns:
        The attributions, with the algorithm used.
    """
    outputs = explained_outputs(predict(model, inputs), targets)
    failures = []
    for algorithm, explain in (("deep", _deep), ("gradient", _gradient)):
        started = time.perf_counter()
        try:
            with warnings.catch_warnings():
                # shap warns that TF2 graph support changed and Keras warns about
                # the input structure shap passes; neither affects the values.
                warnings.simplefilter("ignore", UserWarning)
                values, base = explain(model, inputs, targets, options.background)
        except Exception as error:  # Any failure falls through to the next algorithm.
            failures.append(f"{algorithm}: {type(error).__name__}: {error}")
            continue
        seconds = (time.perf_counter() - started) / len(inputs)
        return Attributions(
            values,
            base,
            np.asarray(targets),
            outputs,
            seconds,
            algorithm=algorithm,
            promises_additivity=algorithm == "deep",
        )
    logger.info("SHAP for Keras falls back to PermutationExplainer: %s", "; ".join(failures))
    return _permutation(model, inputs, targets, options, outputs)


def _select(values, targets: np.ndarray) -> np.ndarray:
    """SHAP's per-output values as `(examples, features)` for each example's target."""
    array = np.asarray(values, dtype=np.float64)
    if array.ndim == 3:  # (examples, features, outputs)
        return array[np.arange(len(array)), :, targets]
    return array


def _deep(model, inputs, targets, background):
    explainer = shap.DeepExplainer(model, background)
    values = _select(explainer.shap_values(inputs, check_additivity=False), targets)
    return values, np.atleast_1d(np.asarray(explainer.expected_value, np.float64))[targets]


def _gradient(model, inputs, targets, background):
    explainer = shap.GradientExplainer(model, background)
    values = _select(explainer.shap_values(inputs), targets)
    expected = predict(model, background).mean(axis=0)
    return values, expected[targets]


def _permutation(model, inputs, targets, options, outputs) -> Attributions:
    started = time.perf_counter()

    def target_output(rows: np.ndarray) -> np.ndarray:
        return predict(model, rows, batch_size=1024)

    explainer = shap.PermutationExplainer(
        target_output, shap.maskers.Independent(options.background), seed=options.seed
    )
    explanation = explainer(inputs)
    values = _select(explanation.values, targets)
    base = np.asarray(explanation.base_values, np.float64).reshape(len(inputs), -1)
    return Attributions(
        values,
        base[np.arange(len(inputs)), targets],
        np.asarray(targets),
        outputs,
        (time.perf_counter() - started) / len(inputs),
        algorithm="permutation",
        promises_additivity=True,
    )
