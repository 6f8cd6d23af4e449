from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from sklearn.metrics import accuracy_score

from tasklab.baselines.compare import fold_train_config, verdict
from tasklab.baselines.xgboost_model import XGBoostClassifier
from tasklab.core import io
from tasklab.core.config import DataConfig, load_config, parse_config, parse_model_config
from tasklab.core.stats import PairedTest
from tasklab.data import load_dataset
from tasklab.pipelines.run import run
from tasklab.tasks import get_task
from tests.conftest import REPO


@pytest.fixture(scope="module")
def breast_cancer_run(tmp_path_factory):
    # One repetition of 2-fold CV keeps this fast; the 5x2 shape is covered by test_stats.
    config = load_config(
        REPO / "configs" / "breast_cancer.yaml",
        ["train.epochs=10", "compare.repeats=1", "export.variants=[]", "explain.methods=[]"],
    )
    return run(config, runs_dir=tmp_path_factory.mktemp("runs"))


def test_comparison_leaderboard_holds_every_model_on_the_same_splits(breast_cancer_run):
    comparison = io.read_json(breast_cancer_run.run_dir / "baselines.json")
    models = {m["name"]: m for m in comparison["models"]}
    assert set(models) == {"keras", "xgboost", "linear", "random_forest", "dummy"}
    assert comparison["primary_metric"] == "accuracy"
    for model in models.values():
        low, high = model["intervals"]["accuracy"]
        assert low <= model["metrics"]["accuracy"] <= high
        assert len(model["cv"]["folds"]) == 2
        assert model["predict_ms_per_1k"] > 0 and model["size_bytes"] > 0
    means = [m["cv"]["mean"] for m in comparison["models"]]
    assert means == sorted(means, reverse=True)
    assert comparison["models"][-1]["name"] == "dummy"
    assert comparison["protocol"]["held_out"]["test"] == 114
    refit = comparison["protocol"]["cv"]["keras_refit"]
    assert refit == {"epochs": 10, "run_epochs": breast_cancer_run.metrics.epochs_run,
                     "cv_budget": 2.5}  # fmt: skip
    # The Keras entry is the run's own test result.
    assert models["keras"]["metrics"] == breast_cancer_run.metrics.test


def test_comparison_test_and_verdict(breast_cancer_run):
    comparison = io.read_json(breast_cancer_run.run_dir / "baselines.json")
    test = comparison["test"]
    assert test["name"] == "corrected resampled t-test" and "Nadeau and Bengio" in test["citation"]
    assert 0.0 <= test["p_value"] <= 1.0
    best = next(m for m in comparison["models"] if m["name"] != "keras")
    assert test["compared"] == ["keras", best["name"]]
    assert (
        best["label"] in comparison["verdict"]
        and f"p = {test['p_value']:.2g}" in comparison["verdict"]
    )
    assert comparison["held_out_test"]["name"] == "McNemar's exact test"
    assert [t["name"] for t in comparison["other_tests"]] == ["McNemar's exact test"]
    html = (breast_cancer_run.run_dir / "report.html").read_text()
    assert "Does the neural net earn its keep?" in html and comparison["verdict"] in html
    assert "the Keras refits trained 10 epoch(s) each" in " ".join(html.split())


def test_saved_xgboost_json_reloads_and_predicts_the_same(breast_cancer_run):
    comparison = io.read_json(breast_cancer_run.run_dir / "baselines.json")
    xgboost_entry = next(m for m in comparison["models"] if m["name"] == "xgboost")
    reloaded = XGBoostClassifier.load_json(breast_cancer_run.run_dir / "baselines" / "xgboost.json")
    config = load_config(REPO / "configs" / "breast_cancer.yaml")
    dataset = load_dataset(config.data, config.seed)
    predicted = reloaded.predict(dataset.test.frame)
    assert accuracy_score(dataset.test.labels, predicted) == xgboost_entry["metrics"]["accuracy"]


def test_regression_comparison_on_the_held_out_split(tmp_path):
    config = load_config(
        REPO / "configs" / "diabetes.yaml",
        [
            "train.epochs=40",
            "compare.cv_max_rows=0",
            "baselines=[xgboost,linear,dummy]",
            "export.variants=[]",
            "explain.methods=[]",
        ],
    )
    comparison = io.read_json(run(config, runs_dir=tmp_path).run_dir / "baselines.json")
    assert (comparison["primary_metric"], comparison["higher_is_better"]) == ("rmse", False)
    assert comparison["protocol"]["cv"] is None
    rmses = [m["metrics"]["rmse"] for m in comparison["models"]]
    assert rmses == sorted(rmses) and comparison["models"][-1]["name"] == "dummy"
    for model in comparison["models"]:
        assert set(model["metrics"]) == {"rmse", "mae", "r2"}
    assert comparison["test"]["name"] == "Wilcoxon signed-rank test on squared errors"
    assert comparison["other_tests"] == []  # Held-out only: the verdict's test is the only one.


def test_verdict_wording():
    significant = PairedTest("5x2cv paired t-test", "", 4.0, 0.01)
    assert verdict("Keras mlp", "XGBoost", "accuracy", True, -0.018, significant, 0.05) == (
        "XGBoost beats the Keras mlp by 1.80 points of accuracy (5x2cv paired t-test, p = 0.01)."
    )
    assert verdict(
        "Keras small_cnn", "XGBoost", "accuracy", True, 0.05, significant, 0.05
    ).startswith("The Keras small_cnn beats XGBoost, the best baseline, by 5.00 points of accuracy")
    # For RMSE lower is better: a negative difference means the Keras model wins.
    assert verdict("Keras mlp", "Linear", "rmse", False, -2.5, significant, 0.05).startswith(
        "The Keras mlp beats Linear, the best baseline, by 2.5 RMSE"
    )
    not_significant = PairedTest("5x2cv paired t-test", "", 0.8, 0.41)
    assert verdict("Keras mlp", "XGBoost", "accuracy", True, 0.004, not_significant, 0.05) == (
        "No significant difference between the Keras mlp and XGBoost, the best baseline "
        "(0.40 points of accuracy apart; 5x2cv paired t-test, p = 0.41)."
    )


def test_image_feature_view_is_pixels_downscaled_when_large(image_folder):
    dataset = load_dataset(DataConfig(uri="builtin:digits"), 0)
    task = get_task("image_classification")(
        parse_model_config("image_classification", {}), dataset.spec
    )
    pixels = task.baseline_features(dataset.test)
    assert pixels.shape == (len(dataset.test), 64)
    assert pixels.to_numpy().min() >= 0.0 and pixels.to_numpy().max() <= 1.0
    first, _ = next(dataset.test.make_dataset().as_numpy_iterator())
    np.testing.assert_allclose(pixels.iloc[0].to_numpy(), first.ravel() / 255.0, rtol=1e-6)

    large = load_dataset(DataConfig(uri=f"folder:{image_folder(size=64)}"), 0)
    task = get_task("image_classification")(
        parse_model_config("image_classification", {}), large.spec
    )
    assert task.baseline_features(large.test).shape == (len(large.test), 32 * 32 * 3)


def test_csv_run_with_categories_and_missing_values(tmp_path):
    rng = np.random.default_rng(0)
    rows = 240
    city = rng.choice(["paris", "rome", "oslo", None], rows)
    income = rng.normal(50, 10, rows).round(1)
    income[::9] = np.nan
    label = np.where(city == "paris", "buy", "skip")
    path = tmp_path / "customers.csv"
    lines = ["city,income,label"] + [
        f"{c or ''},{'' if np.isnan(i) else i},{y}"
        for c, i, y in zip(city, income, label, strict=True)
    ]
    path.write_text("\n".join(lines) + "\n")
    config = parse_config(
        {
            "name": "customers",
            "task": "tabular_classification",
            "data": {"uri": f"csv:{path}", "target": "label"},
            "train": {"epochs": 30, "batch_size": 16, "learning_rate": 0.01},
            "baselines": ["xgboost", "linear"],
            "compare": {"cv_max_rows": 0},
            "export": {"variants": []},
            "explain": {"methods": []},
        }
    )
    result = run(config, runs_dir=tmp_path / "runs")
    comparison = io.read_json(result.run_dir / "baselines.json")
    accuracy = {m["name"]: m["metrics"]["accuracy"] for m in comparison["models"]}
    # The label is a function of the city alone: every model should find it.
    assert accuracy["xgboost"] == 1.0 and accuracy["linear"] == 1.0 and accuracy["keras"] >= 0.95
    assert any("categorical: city" in note for note in result.metrics.data_notes)


def test_fold_refits_train_the_epochs_the_budget_allows():
    """All folds together process at most cv_budget x the run's training examples; the
    warm-up shrinks with the epochs; null keeps train.epochs."""

    class Fold:
        def __init__(self, rows):
            self.data = type("Data", (), {"train": np.zeros(rows)})()

    config = load_config(REPO / "configs" / "digits.yaml")  # 40 epochs, 2 warm-up epochs.
    folds = [Fold(763) for _ in range(10)]
    refit = fold_train_config(config, epochs_run=40, train_rows=1168, folds=folds)
    assert refit.epochs == 15  # floor(2.5 * 40 * 1168 / 7630)
    assert refit.warmup_epochs == pytest.approx(2 * 15 / 40) and refit.stop_at is None
    assert (refit.learning_rate, refit.batch_size) == (config.train.learning_rate, 32)
    stopped_early = fold_train_config(config, epochs_run=4, train_rows=1168, folds=folds)
    assert stopped_early.epochs == 1
    generous = load_config(REPO / "configs" / "digits.yaml", ["compare.cv_budget=100"])
    assert fold_train_config(generous, 40, 1168, folds).epochs == 40
    full = load_config(REPO / "configs" / "digits.yaml", ["compare.cv_budget=null"])
    assert fold_train_config(full, 40, 1168, folds) == dataclasses.replace(full.train, stop_at=None)
