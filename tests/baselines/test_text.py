"""The TF-IDF baselines on texts, and baselines refused for inputs they cannot take."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tasklab.baselines.compare import applicable_baselines
from tasklab.baselines.models import fit_baseline, fitted_bytes
from tasklab.baselines.text import TextXGBoost, text_column
from tasklab.core.config import ConfigError, parse_config
from tasklab.tasks import get_task
from tests.data.test_text import make_texts


def frames(seed: int = 0):
    texts = make_texts(per_class=40, seed=seed)
    rows = [
        (text, label) for label, (_, items) in enumerate(sorted(texts.items())) for text in items
    ]
    frame = pd.DataFrame({"text": [text for text, _ in rows]})
    return frame, np.asarray([label for _, label in rows])


@pytest.mark.parametrize("name", ["tfidf_linear", "tfidf_xgboost"])
def test_tfidf_baselines_learn_words_that_give_the_class_away(name):
    train, train_y = frames(seed=0)
    test, test_y = frames(seed=1)
    model = fit_baseline(name, "classification", 0, (train, train_y), (test[:30], test_y[:30]))
    probabilities = model.predict_proba(test)
    assert probabilities.shape == (len(test), 3)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)
    assert (probabilities.argmax(axis=1) == test_y).mean() > 0.9
    assert fitted_bytes(model) > 0


def test_text_xgboost_early_stops_on_the_validation_texts():
    train, train_y = frames(seed=0)
    val, val_y = frames(seed=1)
    model = TextXGBoost(max_features=20).fit(train, train_y, eval_set=(val, val_y))
    assert model.features_.transform(val).shape[1] == 20
    assert model.trees_.best_iteration_ < 999  # Stopped early on the perfectly separable val set.


def test_text_column_takes_frames_and_arrays():
    assert text_column(pd.DataFrame({"text": ["a", "b"]})).tolist() == ["a", "b"]
    assert text_column(np.array([["a"], ["b"]], dtype=object)).tolist() == ["a", "b"]


def config(task: str, baselines=None):
    raw = {"name": "t", "task": task, "data": {"uri": "builtin:digits"}}
    if baselines is not None:
        raw["baselines"] = baselines
    return parse_config(raw)


def test_each_task_defaults_to_baselines_for_its_input_xgboost_first():
    text = get_task("text_classification")
    image = get_task("image_classification")
    assert applicable_baselines(config("text_classification"), text)[0] == "tfidf_xgboost"
    assert applicable_baselines(config("image_classification"), image)[0] == "xgboost"


def test_a_baseline_for_another_input_is_refused_with_the_ones_that_fit():
    text = get_task("text_classification")
    with pytest.raises(ConfigError, match=r"\['random_forest'\] cannot take text inputs.*tfidf_"):
        applicable_baselines(config("text_classification", ["random_forest"]), text)
