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
import functools
from collections.abc import Callable, Mapping
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

from tasklab.baselines.pixels import PixelClassifier
from tasklab.baselines.text import tfidf_linear, tfidf_xgboost
from tasklab.baselines.xgboost_model import XGBoostClassifier, XGBoostRegressor
from tasklab.core.problems import Problem, problem_named
from tasklab.core.registry import Registry

_CATEGORICAL = make_column_selector(dtype_include="category")
_NUMERIC = make_column_selector(dtype_exclude="category")


@dataclasses.dataclass(frozen=True)
class Baseline:
    """A baseline family.

    Attributes:
        label: the name shown in reports, e.g. "XGBoost".
        makers: sklearn estimator type (`classifier`, `regressor`: a problem's
            `estimator_type`) -> `make(seed) -> estimator` (unfitted); the
            problems it has no maker for, it cannot fit.
        uses_validation: whether `fit` takes the validation split (`eval_set=`)
            for early stopping, as the Keras model does.
        inputs: the data kinds whose feature view it takes.
    """

    label: str
    makers: Mapping[str, Callable[[int], BaseEstimator]]
    uses_validation: bool = False
    inputs: tuple[str, ...] = ("image", "tabular", "audio", "segmentation")

    def fits(self, problem: Problem) -> bool:
        """Whether it has an estimator for the problem."""
        return problem.estimator_type in self.makers

    def make(self, problem: Problem, seed: int) -> BaseEstimator:
        """An unfitted estimator for the problem.

        Raises:
            ValueError: when the family has none for the problem.
        """
        if not self.fits(problem):
            raise ValueError(
                f"The {self.label} baseline fits {' and '.join(sorted(self.makers))} models; "
                f"the task does {problem.name}."
            )
        return self.makers[problem.estimator_type](seed)


BASELINES: Registry[Baseline] = Registry("baseline")


def _scaled_and_one_hot():
    """Scaled numbers (median-imputed, with missing flags) and one-hot categories."""
    return make_column_transformer(
        (
            make_pipeline(SimpleImputer(strategy="median", add_indicator=True), StandardScaler()),
            _NUMERIC,
        ),
        (OneHotEncoder(handle_unknown="ignore"), _CATEGORICAL),
    )


def _ordinal_coded():
    """Median-imputed numbers and ordinal-coded categories (trees need no scaling or one-hot)."""
    return make_column_transformer(
        (SimpleImputer(strategy="median", keep_empty_features=True), _NUMERIC),
        (
            OrdinalEncoder(
                handle_unknown="use_encoded_value", unknown_value=-1, encoded_missing_value=-1
            ),
            _CATEGORICAL,
        ),
    )


def _forest(forest: type, seed: int) -> BaseEstimator:
    return make_pipeline(_ordinal_coded(), forest(n_estimators=300, random_state=seed, n_jobs=-1))


BASELINES.register("xgboost")(
    Baseline(
        "XGBoost",
        {
            "classifier": lambda seed: XGBoostClassifier(random_state=seed),
            "regressor": lambda seed: XGBoostRegressor(random_state=seed),
            # On the filter bank of every pixel, as ilastik segments (`baselines/pixels.py`).
            "pixel_classifier": lambda seed: PixelClassifier(
                functools.partial(XGBoostClassifier, random_state=seed), random_state=seed
            ),
        },
        uses_validation=True,
    )
)
BASELINES.register("linear")(
    Baseline(
        "Linear",
        {
            "classifier": lambda seed: make_pipeline(
                _scaled_and_one_hot(), LogisticRegression(max_iter=2000, random_state=seed)
            ),
            "regressor": lambda seed: make_pipeline(_scaled_and_one_hot(), Ridge(alpha=1.0)),
        },
    )
)
BASELINES.register("random_forest")(
    Baseline(
        "Random forest",
        {
            "classifier": lambda seed: _forest(RandomForestClassifier, seed),
            "regressor": lambda seed: _forest(RandomForestRegressor, seed),
        },
    )
)
# The majority class (class priors) or the mean: the floor every model must clear.
BASELINES.register("dummy")(
    Baseline(
        "Dummy",
        {
            "classifier": lambda seed: DummyClassifier(strategy="prior"),
            "regressor": lambda seed: DummyRegressor(strategy="mean"),
            "pixel_classifier": lambda seed: PixelClassifier(
                functools.partial(DummyClassifier, strategy="prior"), random_state=seed
            ),
        },
        inputs=("image", "tabular", "text", "audio", "segmentation"),
    )
)
BASELINES.register("tfidf_xgboost")(
    Baseline(
        "XGBoost on TF-IDF", {"classifier": tfidf_xgboost}, uses_validation=True, inputs=("text",)
    )
)
BASELINES.register("tfidf_linear")(
    Baseline("TF-IDF + logistic regression", {"classifier": tfidf_linear}, inputs=("text",))
)


def fit_baseline(
    name: str,
    problem: Problem | str,
    seed: int,
    train: tuple[Any, np.ndarray],
    val: tuple[Any, np.ndarray],
) -> BaseEstimator:
    """Builds and fits one baseline on the training rows (early-stopping on `val` if it can).

    Args:
        name: a registered baseline.
        problem: the task's problem (`core.problems`, or its name).
        seed: seeds the estimator.
        train: `(features, targets)` of the train split.
        val: `(features, targets)` of the validation split.

    Returns:
        The fitted estimator.
    """
    baseline = BASELINES.get(name)
    estimator = baseline.make(problem_named(problem), seed)
    if baseline.uses_validation:
        return estimator.fit(*train, eval_set=val)
    return estimator.fit(*train)


def fitted_bytes(obj: Any) -> int:
    """About the bytes a fitted model takes saved: what pickling its state writes.

    Walks the state each object saves (`__getstate__`: for scikit-learn trees
    their node arrays), containers (dict keys included: attribute names, TF-IDF
    vocabularies) and arrays, and counts their bytes plus pickle's small cost
    per item. An object reached twice counts once, as pickle's memo writes it once.

    Args:
        obj: a fitted estimator, or any part of one.

    Returns:
        The size in bytes: within a few percent of `len(pickle.dumps(obj))`
        for fitted estimators (their arrays, strings and names dominate).
    """
    # The memo holds every visited object, not just its id(): a state dict made by
    # __getstate__ is a temporary, and once freed its id() goes to the next tree's state,
    # which would then count as seen (a 300-tree forest measured as one tree).
    return _saved_bytes(obj, {})


# What pickle (protocol 4) writes besides the data: an opcode and a length per string, a memo
# reference per repeated object, a mark and an end per container, and per array (or NumPy
# scalar) its reduce call, shape and dtype. Measured with `pickle.dumps`; only small models
# feel them.
_ITEM_BYTES = 3
_MEMO_HIT_BYTES = 2
_ARRAY_BYTES = 34
_NUMPY_SCALAR_BYTES = 11


def _saved_bytes(obj: Any, memo: dict[int, Any]) -> int:
    """`fitted_bytes` of `obj`, counting nothing twice that `memo` (id to object) holds."""
    if obj is None or isinstance(obj, bool):
        return 1
    if isinstance(obj, int | float | complex):  # Not memoized: pickle writes each occurrence.
        return 2 if isinstance(obj, int) and 0 <= obj < 256 else 9
    if id(obj) in memo:
        return _MEMO_HIT_BYTES
    memo[id(obj)] = obj
    if isinstance(obj, str):
        return _ITEM_BYTES + len(obj.encode())
    if isinstance(obj, bytes | bytearray):
        return _ITEM_BYTES + len(obj)
    if isinstance(obj, np.generic):  # A NumPy scalar, e.g. a TF-IDF vocabulary's index.
        return _NUMPY_SCALAR_BYTES + obj.nbytes + _saved_bytes(type(obj), memo)
    if isinstance(obj, np.ndarray):
        if obj.dtype.hasobject:  # Pointers in memory; in a pickle, the objects themselves.
            return _ARRAY_BYTES + sum(_saved_bytes(item, memo) for item in obj.ravel().tolist())
        return _ARRAY_BYTES + obj.nbytes + _saved_bytes(type(obj), memo)
    if isinstance(obj, list | tuple | set | frozenset):
        return _ITEM_BYTES + sum(_saved_bytes(item, memo) for item in obj)
    if isinstance(obj, dict):
        return _ITEM_BYTES + sum(
            _saved_bytes(key, memo) + _saved_bytes(value, memo) for key, value in obj.items()
        )
    if isinstance(obj, type) or (callable(obj) and hasattr(obj, "__qualname__")):
        # Classes and functions are saved by reference: their module and name.
        module = getattr(obj, "__module__", None) or ""
        return 2 * _ITEM_BYTES + len(module.encode()) + len(obj.__qualname__.encode())
    name = _saved_bytes(type(obj), memo)
    try:
        state = obj.__getstate__()
    except TypeError:  # A C object saved through its reduce instead: its class name only.
        return _ITEM_BYTES + name
    return _ITEM_BYTES + name + _saved_bytes(state, memo)
