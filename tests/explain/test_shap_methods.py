"""SHAP on the baseline and on the task's own Keras model: additivity, the right class, speed."""

from __future__ import annotations

import keras
import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_wine, make_classification

from tasklab.baselines.xgboost_model import XGBoostClassifier, XGBoostRegressor
from tasklab.core.config import parse_model_config
from tasklab.explain.base import ExplainOptions
from tasklab.explain.shap_methods import keras_shap, tree_shap
from tasklab.tasks import get_task
from tests.conftest import tabular_spec


def test_tree_shap_is_additive_in_margin_space_on_1000_rows_in_seconds():
    x, y = make_classification(n_samples=1000, n_features=12, random_state=0)
    frame = pd.DataFrame(x, columns=[f"f{i}" for i in range(12)])
    model = XGBoostClassifier(random_state=0).fit(frame, y)
    targets = np.where(np.arange(1000) % 3 == 0, 0, 1)  # Both classes explained.
    result = tree_shap(model, frame, targets, ExplainOptions())
    assert result.values.shape == (1000, 12) and result.promises_additivity
    assert result.additivity_error().max() < 1e-4
    margin = model.model_.predict(model.booster_input(frame), output_margin=True)
    np.testing.assert_allclose(result.outputs, np.where(targets == 1, margin, -margin), rtol=1e-6)
    assert result.seconds_per_example * 1000 < 10  # TreeExplainer on 1,000 rows: seconds.


def test_tree_shap_multiclass_and_regression_explain_the_asked_output():
    wine = load_wine(as_frame=True)
    model = XGBoostClassifier(random_state=0).fit(wine.data, wine.target)
    targets = np.arange(len(wine.data)) % 3
    result = tree_shap(model, wine.data, targets, ExplainOptions())
    margins = model.model_.predict(model.booster_input(wine.data), output_margin=True)
    np.testing.assert_allclose(result.outputs, margins[np.arange(len(targets)), targets], rtol=1e-6)
    assert result.additivity_error().max() < 1e-4
    regressor = XGBoostRegressor(random_state=0).fit(wine.data, wine.data["alcohol"] * 2)
    values = tree_shap(regressor, wine.data, np.zeros(len(wine.data), int), ExplainOptions())
    assert values.additivity_error().max() < 1e-4
    # The target is a function of alcohol alone: it must carry nearly all the attribution.
    importance = np.abs(values.values).mean(axis=0)
    assert importance.argmax() == list(wine.data.columns).index("alcohol")


@pytest.fixture(scope="module")
def trained_mlp():
    x, y = make_classification(n_samples=400, n_features=6, n_informative=3, random_state=1)
    x = (x * [1, 10, 100, 1, 1, 1] + [0, 5, 50, 0, 0, 0]).astype("float32")
    name = "tabular_classification"
    task = get_task(name)(parse_model_config(name, {}), tabular_spec(x))
    keras.utils.set_random_seed(0)
    model = task.build_model()
    task.compile(model, keras.optimizers.Adam(1e-2))
    model.fit(x, y, epochs=10, batch_size=32, verbose=0)
    return model, x


def test_keras_shap_on_the_task_model_is_additive(trained_mlp):
    model, x = trained_mlp
    targets = model.predict(x[:20], verbose=0).argmax(axis=1)
    result = keras_shap(model, x[:20], targets, ExplainOptions(background=x[100:200]))
    assert result.values.shape == (20, 6)
    assert result.algorithm == "deep" and result.promises_additivity
    # DeepExplainer's local accuracy: base value + sum of SHAP values = the target probability.
    assert result.additivity_error().max() < 1e-3
    probabilities = model.predict(x[:20], verbose=0)[np.arange(20), targets]
    np.testing.assert_allclose(result.outputs, probabilities, rtol=1e-5)
