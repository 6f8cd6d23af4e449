"""The classical baselines every run is compared against, by name.

Each baseline takes a task's feature view (`Task.baseline_features`): for
images and tables a DataFrame whose pandas categorical columns are categories
and whose other columns are numbers (NaN for missing); for texts a DataFrame
with one `text` column. A baseline names the kinds of input it takes, and a
task the baselines it runs by default. Preprocessing lives inside each
estimator's pipeline, fitted on the training rows only.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.compose import make_column_selector, make_column_transformer
from sklearn.dummy import DummyClassifier, DummyRegressor
from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler

from baselines.text import tfidf_linear, tfidf_xgboost
from baselines.xgboost_model import XGBoostClassifier, XGBoostRegressor
from pipelines.registry import Registry

_CATEGORICAL = make_column_selector(dtype_include="category")
_NUMERIC = make_column_selector(dtype_exclude="category")


@dataclasses.dataclass(frozen=True)
class Baseline:
    """A baseline family.

    Attributes:
        label: the name shown in reports, e.g. "XGBoost".
        make: `make(problem, seed) -> estimator` (unfitted).
        uses_validation: whether `fit` takes the validation split (`eval_set=`)
            for early stopping, as the Keras model does.
        inputs: the data kinds whose feature view it takes.
    """

    label: str
    make: Callable[[str, int], BaseEstimator]
    uses_validation: bool = False
    inputs: tuple[str, ...] = ("image", "tabular", "audio")


BASELINES: Registry[Baseline] = Registry("baseline")


def _xgboost(problem: str, seed: int) -> BaseEstimator:
    model = XGBoostClassifier if problem == "classification" else XGBoostRegressor
    return model(random_state=seed)


def _linear(problem: str, seed: int) -> BaseEstimator:
    """Logistic or ridge regression on scaled numbers and one-hot categories."""
    prepare = make_column_transformer(
        (
            make_pipeline(SimpleImputer(strategy="median", add_indicator=True), StandardScaler()),
            _NUMERIC,
        ),
        (OneHotEncoder(handle_unknown="ignore"), _CATEGORICAL),
    )
    if problem == "classification":
        return make_pipeline(prepare, LogisticRegression(max_iter=2000, random_state=seed))
    return make_pipeline(prepare, Ridge(alpha=1.0))


def _random_forest(problem: str, seed: int) -> BaseEstimator:
    """A random forest on ordinal-coded categories (trees need no scaling or one-hot)."""
    prepare = make_column_transformer(
        (SimpleImputer(strategy="median", keep_empty_features=True), _NUMERIC),
        (
            OrdinalEncoder(
                handle_unknown="use_encoded_value", unknown_value=-1, encoded_missing_value=-1
            ),
            _CATEGORICAL,
        ),
    )
    forest = RandomForestClassifier if problem == "classification" else RandomForestRegressor
    return make_pipeline(prepare, forest(n_estimators=300, random_state=seed, n_jobs=-1))


def _dummy(problem: str, seed: int) -> BaseEstimator:
    """The majority class (class priors) or the mean: the floor every model must clear."""
    if problem == "classification":
        return DummyClassifier(strategy="prior")
    return DummyRegressor(strategy="mean")


BASELINES.register("xgboost")(Baseline("XGBoost", _xgboost, uses_validation=True))
BASELINES.register("linear")(Baseline("Linear", _linear))
BASELINES.register("random_forest")(Baseline("Random forest", _random_forest))
BASELINES.register("dummy")(Baseline("Dummy", _dummy, inputs=("image", "tabular", "text", "audio")))
BASELINES.register("tfidf_xgboost")(
    Baseline("XGBoost on TF-IDF", tfidf_xgboost, uses_validation=True, inputs=("text",))
)
BASELINES.register("tfidf_linear")(
    Baseline("TF-IDF + logistic regression", tfidf_linear, inputs=("text",))
)


def fit_baseline(
    name: str, problem: str, seed: int, train: tuple[Any, np.ndarray], val: tuple[Any, np.ndarray]
) -> BaseEstimator:
    """Builds and fits one baseline on the training rows (early-stopping on `val` if it can).

    Args:
        name: a registered baseline.
        problem: `classification` or `regression`.
        seed: seeds the estimator.
        train: `(features, targets)` of the train split.
        val: `(features, targets)` of the validation split.

    Returns:
        The fitted estimator.
    """
    baseline = BASELINES.get(name)
    estimator = baseline.make(problem, seed)
    if baseline.uses_validation:
        return estimator.fit(*train, eval_set=val)
    return estimator.fit(*train)


def fitted_bytes(obj: Any, _seen: set[int] | None = None) -> int:
    """Bytes of the arrays and strings a fitted scikit-learn model holds: its size unpickled.

    Walks estimators, pipelines, lists and dicts (keys included, for TF-IDF
    vocabularies), and the node arrays of scikit-learn trees.
    """
    seen = _seen if _seen is not None else set()
    if id(obj) in seen:
        return 0
    seen.add(id(obj))
    if isinstance(obj, np.ndarray):
        return obj.nbytes
    if isinstance(obj, list | tuple):
        return sum(fitted_bytes(item, seen) for item in obj)
    if isinstance(obj, str):
        return len(obj.encode())
    if isinstance(obj, dict):  # Keys count too: a TF-IDF vocabulary is a dict of terms.
        return sum(fitted_bytes(key, seen) + fitted_bytes(item, seen) for key, item in obj.items())
    if type(obj).__name__ == "Tree":  # sklearn.tree._tree.Tree keeps its arrays in its state.
        return fitted_bytes(obj.__getstate__(), seen)
    if hasattr(obj, "__dict__"):
        return sum(fitted_bytes(value, seen) for value in vars(obj).values())
    return 0
