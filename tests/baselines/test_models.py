from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, r2_score
from threadpoolctl import threadpool_limits

from tasklab.baselines.models import BASELINES, fit_baseline, fitted_bytes
from tasklab.baselines.xgboost_model import XGBoostClassifier, XGBoostRegressor
from tasklab.core.config import DataConfig
from tasklab.data import load_dataset

TABLE_BASELINES = [n for n in BASELINES.names() if "tabular" in BASELINES.get(n).inputs]


def frames(dataset):
    return {
        name: (getattr(dataset, name).frame, getattr(dataset, name).labels)
        for name in ("train", "val", "test")
    }


@pytest.fixture(scope="module")
def breast_cancer():
    return frames(load_dataset(DataConfig(uri="builtin:breast_cancer"), 0))


@pytest.mark.parametrize("name", TABLE_BASELINES)
def test_each_baseline_fits_breast_cancer(name, breast_cancer):
    model = fit_baseline(name, "classification", 0, breast_cancer["train"], breast_cancer["val"])
    x, y = breast_cancer["test"]
    accuracy = accuracy_score(y, model.predict(x))
    probabilities = model.predict_proba(x)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-6)
    if name == "dummy":
        assert accuracy == pytest.approx(
            np.mean(y == np.bincount(breast_cancer["train"][1]).argmax())
        )
    else:
        assert accuracy > 0.9  # The majority class alone scores 0.63.
    assert fitted_bytes(model) > 0


def mixed_frame(rows, seed):
    rng = np.random.default_rng(seed)
    city = pd.Categorical(rng.choice(["a", "b", "c"], rows), categories=["a", "b", "c"])
    x = rng.normal(size=rows)
    x[::7] = np.nan
    frame = pd.DataFrame({"x": x, "city": city})
    y = (np.nan_to_num(x) + (np.asarray(city) == "b") * 2 > 0.5).astype(int)
    return frame, y


@pytest.mark.parametrize("name", TABLE_BASELINES)
def test_baselines_take_categories_missing_and_unseen_values(name):
    train, val = mixed_frame(200, 0), mixed_frame(60, 1)
    model = fit_baseline(name, "classification", 0, train, val)
    test, _ = mixed_frame(20, 2)
    test["city"] = pd.Categorical([np.nan] * 20, categories=["a", "b", "c"])  # Unseen -> NaN.
    assert model.predict(test).shape == (20,)


def test_xgboost_early_stops_on_the_given_validation_split(breast_cancer):
    model = XGBoostClassifier(n_estimators=2000, early_stopping_rounds=20).fit(
        *breast_cancer["train"], eval_set=breast_cancer["val"]
    )
    assert model.best_iteration_ < 1000
    assert model.model_.evals_result()["validation_0"]  # Scored on the split it was given.


def test_xgboost_json_reloads_and_predicts_the_same(tmp_path, breast_cancer):
    model = fit_baseline(
        "xgboost", "classification", 0, breast_cancer["train"], breast_cancer["val"]
    )
    path = model.save_json(tmp_path / "xgboost.json")
    assert path.read_text().startswith("{")
    reloaded = XGBoostClassifier.load_json(path)
    x, _ = breast_cancer["test"]
    np.testing.assert_array_equal(reloaded.predict(x), model.predict(x))
    np.testing.assert_allclose(reloaded.predict_proba(x), model.predict_proba(x), rtol=1e-6)


def test_xgboost_string_labels_and_regression_round_trip(tmp_path):
    frame, y = mixed_frame(200, 0)
    labels = np.where(y == 1, "yes", "no")
    classifier = XGBoostClassifier(n_estimators=50).fit(frame, labels)
    reloaded = XGBoostClassifier.load_json(classifier.save_json(tmp_path / "c.json"))
    assert set(reloaded.predict(frame)) <= {"yes", "no"}
    np.testing.assert_array_equal(reloaded.predict(frame), classifier.predict(frame))

    diabetes = frames(load_dataset(DataConfig(uri="builtin:diabetes"), 0, "regression"))
    regressor = fit_baseline("xgboost", "regression", 0, diabetes["train"], diabetes["val"])
    x, y_test = diabetes["test"]
    assert r2_score(y_test, regressor.predict(x)) > 0.2
    again = XGBoostRegressor.load_json(regressor.save_json(tmp_path / "r.json"))
    np.testing.assert_allclose(again.predict(x), regressor.predict(x), rtol=1e-6)


@pytest.fixture(scope="module")
def digits_frame():
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True, as_frame=True)
    return x, y.to_numpy()


@pytest.mark.parametrize("name", ["random_forest", "linear", "logistic_regression"])
def test_fitted_bytes_is_within_a_few_percent_of_the_pickled_model(name, digits_frame):
    x, y = digits_frame
    if name == "logistic_regression":  # A bare estimator, outside any pipeline.
        # One BLAS thread: on a busy two-core machine two spin against each other (7 s, not 0.1 s).
        with threadpool_limits(limits=1):
            model = LogisticRegression(max_iter=500).fit(x.to_numpy() / 16, y)
    else:
        model = fit_baseline(name, "classification", 0, (x, y), (x, y))
    pickled = len(pickle.dumps(model))
    # The old walk keyed temporaries by id(): a 300-tree forest (17 MB pickled) measured 65 KB.
    np.testing.assert_allclose(fitted_bytes(model), pickled, rtol=0.04)


def test_fitted_bytes_counts_every_tree_of_a_forest(digits_frame):
    x, y = digits_frame
    forest = RandomForestClassifier(n_estimators=20, random_state=0).fit(x, y)
    trees = sum(fitted_bytes(tree) for tree in forest.estimators_)
    np.testing.assert_allclose(fitted_bytes(forest), trees, rtol=0.02)
