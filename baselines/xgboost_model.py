"""XGBoost with early stopping on a validation set, behind the scikit-learn estimator API.

Why a wrapper: the comparison must give XGBoost the run's own validation split
for early stopping (the split the Keras model early-stops on), encode class
labels the way XGBoost needs (0..K-1), keep pandas categorical columns for
XGBoost's native categorical support, and save the model in XGBoost's own JSON
format. When no validation set is passed (e.g. inside a scikit-learn
cross-validation), it holds out `validation_fraction` of the training rows.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import xgboost
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import LabelEncoder
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from tasklab.core import io
from tasklab.core.problems import Problem, problem_named
from tasklab.core.run_dir import RunDir

_CLASSES_ATTRIBUTE = "tasklab_classes"
_COLUMNS_ATTRIBUTE = "tasklab_columns"
_MIN_ROWS_FOR_EARLY_STOPPING = 20


# Where a run keeps its fitted baselines (XGBoost in its own JSON format).


class _EarlyStoppingXGBoost(BaseEstimator):
    """Shared fitting logic; see `XGBoostClassifier` and `XGBoostRegressor`.

    Args:
        n_estimators: the most boosting rounds.
        learning_rate: shrinkage per round.
        max_depth: the deepest tree.
        early_stopping_rounds: rounds without validation improvement before stopping.
        validation_fraction: rows held out for early stopping when `fit` gets no `eval_set`.
        n_jobs: threads (None: XGBoost's default).
        random_state: seeds XGBoost and the held-out rows.
    """

    def __init__(
        self,
        n_estimators: int = 1000,
        learning_rate: float = 0.05,
        max_depth: int = 6,
        early_stopping_rounds: int = 50,
        validation_fraction: float = 0.15,
        n_jobs: int | None = None,
        random_state: int = 0,
    ):
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.max_depth = max_depth
        self.early_stopping_rounds = early_stopping_rounds
        self.validation_fraction = validation_fraction
        self.n_jobs = n_jobs
        self.random_state = random_state

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True  # XGBoost routes missing values natively.
        tags.input_tags.sparse = True  # CSR (TF-IDF features) goes to XGBoost as it is.
        return tags

    def _validate_fit(self, X, y):
        # DataFrames pass through untouched so categorical dtypes reach XGBoost;
        # arrays get scikit-learn's full validation.
        if isinstance(X, pd.DataFrame) and y is not None:
            return validate_data(self, X, y, skip_check_array=True)[0], np.asarray(y)
        # Sparse matrices (TF-IDF features) stay sparse: XGBoost takes CSR natively.
        return validate_data(self, X, y, ensure_all_finite="allow-nan", accept_sparse="csr")

    def _validate_predict(self, X):
        if isinstance(X, pd.DataFrame):
            return self.booster_input(validate_data(self, X, reset=False, skip_check_array=True))
        return validate_data(
            self, X, reset=False, ensure_all_finite="allow-nan", accept_sparse="csr"
        )

    @staticmethod
    def booster_input(X):
        """`X` as the booster (`model_`) takes it: a DataFrame's columns named by position.

        Column names are data: XGBoost refuses feature names holding `[`, `]` or
        `<` (`weight [kg]`), so the booster sees `f0, f1, ...`; this estimator
        keeps the real names (`feature_names_in_`) and checks them on predict.
        """
        if isinstance(X, pd.DataFrame):
            return X.set_axis([f"f{i}" for i in range(X.shape[1])], axis=1)
        return X

    def _fit_booster(self, model, X, y, eval_set, stratify):
        X = self.booster_input(X)
        if eval_set is not None:
            eval_set = (self.booster_input(eval_set[0]), eval_set[1])
        if eval_set is None and len(y) >= _MIN_ROWS_FOR_EARLY_STOPPING:
            try:
                X, X_val, y, y_val = train_test_split(
                    X,
                    y,
                    test_size=self.validation_fraction,
                    random_state=self.random_state,
                    stratify=stratify,
                )
                eval_set = (X_val, y_val)
            except ValueError:
                eval_set = None  # Too few rows of some class to hold any out: no early stopping.
        if eval_set is None:
            model.set_params(early_stopping_rounds=None)
            model.fit(X, y, verbose=False)
        else:
            model.fit(X, y, eval_set=[eval_set], verbose=False)
        self.model_ = model
        self.best_iteration_ = int(getattr(model, "best_iteration", model.n_estimators - 1) or 0)
        if hasattr(self, "feature_names_in_"):
            columns = json.dumps([str(name) for name in self.feature_names_in_])
            model.get_booster().set_attr(**{_COLUMNS_ATTRIBUTE: columns})
        return self

    @property
    def feature_importances_(self) -> np.ndarray:
        """The fitted booster's importance of each input column (XGBoost's default: gain)."""
        check_is_fitted(self)
        return self.model_.feature_importances_

    def _xgb_params(self) -> dict:
        return {
            "n_estimators": self.n_estimators,
            "learning_rate": self.learning_rate,
            "max_depth": self.max_depth,
            "early_stopping_rounds": self.early_stopping_rounds,
            "tree_method": "hist",
            "enable_categorical": True,
            "n_jobs": self.n_jobs,
            "random_state": self.random_state,
        }

    @classmethod
    def load_json(cls, path: str | Path):
        """Loads a model saved by `save_json`, ready to predict.

        Returns:
            An instance of this class with the saved booster, feature names and classes.
        """
        model = cls._xgboost_class()
        model.load_model(str(path))
        estimator = cls()
        estimator.model_ = model
        estimator.n_features_in_ = model.n_features_in_
        booster = model.get_booster()
        columns = booster.attr(_COLUMNS_ATTRIBUTE)
        if columns is not None:
            estimator.feature_names_in_ = np.asarray(json.loads(columns), dtype=object)
        elif booster.feature_names:  # Saved before the booster's columns were positional.
            estimator.feature_names_in_ = np.asarray(booster.feature_names, dtype=object)
        classes = booster.attr(_CLASSES_ATTRIBUTE)
        if classes is not None:
            estimator.classes_ = np.asarray(json.loads(classes))
        return estimator

    def save_json(self, path: str | Path) -> Path:
        """Saves the fitted model in XGBoost's JSON format (atomically; nothing pickled).

        Returns:
            The path written.
        """
        check_is_fitted(self)
        with io.atomic_path(path) as tmp:
            self.model_.save_model(tmp)
        return Path(path)


class XGBoostClassifier(ClassifierMixin, _EarlyStoppingXGBoost):
    """Gradient-boosted trees for classification; labels may be any hashable values."""

    _xgboost_class = xgboost.XGBClassifier

    def fit(self, X, y, eval_set=None):
        """Fits, early-stopping on `eval_set=(X_val, y_val)` or on held-out training rows.

        Returns:
            self.
        """
        X, y = self._validate_fit(X, y)
        check_classification_targets(y)
        self._label_encoder = LabelEncoder().fit(y)
        self.classes_ = self._label_encoder.classes_
        if len(self.classes_) < 2:
            raise ValueError(
                "XGBoostClassifier needs at least 2 classes in y; "
                f"it has 1 class ({self.classes_[0]!r})."
            )
        codes = self._label_encoder.transform(y)
        if eval_set is not None:
            X_val, y_val = eval_set
            eval_set = (X_val, self._label_encoder.transform(np.asarray(y_val)))
        model = self._xgboost_class(**self._xgb_params())
        self._fit_booster(model, X, codes, eval_set, stratify=codes)
        self.model_.get_booster().set_attr(
            **{_CLASSES_ATTRIBUTE: json.dumps(self.classes_.tolist())}
        )
        return self

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities, columns in the order of `classes_`."""
        check_is_fitted(self)
        return self.model_.predict_proba(self._validate_predict(X))

    def predict(self, X) -> np.ndarray:
        """The most probable class of each row."""
        check_is_fitted(self)
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]


class XGBoostRegressor(RegressorMixin, _EarlyStoppingXGBoost):
    """Gradient-boosted trees for regression (squared error)."""

    _xgboost_class = xgboost.XGBRegressor

    def fit(self, X, y, eval_set=None):
        """Fits, early-stopping on `eval_set=(X_val, y_val)` or on held-out training rows.

        Returns:
            self.
        """
        X, y = self._validate_fit(X, y)
        y = np.asarray(y, dtype=np.float64)
        model = self._xgboost_class(**self._xgb_params())
        return self._fit_booster(model, X, y, eval_set, stratify=None)

    def predict(self, X) -> np.ndarray:
        """The predicted value of each row."""
        check_is_fitted(self)
        return self.model_.predict(self._validate_predict(X))


# The saved model's class by the problem's sklearn estimator type.
XGBOOST_ESTIMATORS: dict[str, type[_EarlyStoppingXGBoost]] = {
    "classifier": XGBoostClassifier,
    "regressor": XGBoostRegressor,
}


def xgboost_baseline_path(run_dir: Path) -> Path:
    """Where a run keeps its fitted XGBoost baseline (XGBoost's own JSON format)."""
    return RunDir(run_dir).xgboost


def load_xgboost_baseline(
    run_dir: Path, problem: Problem | str
) -> XGBoostClassifier | XGBoostRegressor | None:
    """Reloads a run's fitted XGBoost baseline, ready to predict.

    Args:
        run_dir: the run directory.
        problem: the task's problem (`core.problems`, or its name).

    Returns:
        The estimator, or None when the run has no XGBoost baseline.
    """
    path = xgboost_baseline_path(run_dir)
    if not path.is_file():
        return None
    return XGBOOST_ESTIMATORS[problem_named(problem).estimator_type].load_json(path)
