"""Our estimator wrappers pass scikit-learn's own conformance checks."""

from __future__ import annotations

import pytest
from sklearn.utils.estimator_checks import estimator_checks_generator

from tasklab.baselines.xgboost_model import XGBoostClassifier, XGBoostRegressor


def _check_name(check) -> str:
    return getattr(check, "func", check).__name__


def all_checks():
    """Every check scikit-learn generates, except array-API input: our estimators do
    not declare array-API support, and scikit-learn skips that check unless
    SCIPY_ARRAY_API is set."""
    for estimator in (XGBoostClassifier(n_estimators=50), XGBoostRegressor(n_estimators=50)):
        for est, check in estimator_checks_generator(estimator, legacy=True):
            if _check_name(check) != "check_array_api_input":
                yield pytest.param(est, check, id=f"{type(est).__name__}-{_check_name(check)}")


@pytest.mark.parametrize(("estimator", "check"), list(all_checks()))
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)
