"""`baselines.json` as a typed record: written and read back the same; older files still read."""

from __future__ import annotations

import pytest

from tasklab.baselines.results import ComparisonResult, CrossValScores, ModelEntry
from tasklab.core import io


def entry(name, accuracy, **extra):
    return {
        "name": name,
        "label": name.title(),
        "metrics": {"accuracy": accuracy},
        "intervals": {"accuracy": [accuracy - 0.1, accuracy + 0.1]},
        "fit_seconds": 1.0,
        "predict_ms_per_1k": 2.0,
        "size_bytes": 100,
        **extra,
    }


# As the comparison stage wrote it before the stage results were typed: the held-out test
# had no `alpha`, the other tests no `compared`.
EARLIER = {
    "primary_metric": "accuracy",
    "higher_is_better": True,
    "protocol": {
        "held_out": {"train": 10, "val": 2, "test": 4},
        "cv": {"repeats": 5, "folds": 2, "train_rows": 8, "test_rows": 8,
               "keras_refit": {"epochs": 3, "run_epochs": 5, "cv_budget": 2.5}},
    },
    "models": [
        entry("xgboost", 0.9, cv={"mean": 0.9, "std": 0.01, "folds": [0.89, 0.91]}),
        entry("keras", 0.8, cv={"mean": 0.8, "std": 0.02, "folds": [0.78, 0.82]}),
    ],
    "test": {"name": "5x2cv paired t-test", "citation": "Dietterich (1998)", "statistic": -3.0,
             "p_value": 0.03, "compared": ["keras", "xgboost"], "alpha": 0.05},
    "held_out_test": {"name": "McNemar's exact test", "citation": "McNemar (1947)",
                      "statistic": None, "p_value": 1.0, "compared": ["keras", "xgboost"]},
    "other_tests": [{"name": "McNemar's exact test", "citation": "McNemar (1947)",
                     "statistic": None, "p_value": 1.0}],
    "verdict": "XGBoost beats the Keras model.",
}  # fmt: skip


def test_an_earlier_comparison_reads_with_defaults_for_the_keys_it_lacks(tmp_path):
    io.write_json(tmp_path / "baselines.json", EARLIER)
    result = ComparisonResult.read(tmp_path / "baselines.json")
    assert result.best_baseline.name == "xgboost" and result.keras.cv.folds == (0.78, 0.82)
    assert result.protocol.cv.keras_refit.epochs == 3
    assert result.held_out_test.alpha is None and result.other_tests[0].compared == ()
    assert result.model("dummy") is None


def test_a_comparison_round_trips_through_its_json(tmp_path):
    result = ComparisonResult.from_json(EARLIER, "baselines.json")
    result.write(tmp_path / "baselines.json")
    assert ComparisonResult.read(tmp_path / "baselines.json") == result
    # The keys are the fields, in their order: the file's shape is declared once.
    assert list(io.read_json(tmp_path / "baselines.json")) == list(EARLIER)


def test_a_comparison_without_baselines_has_no_best_baseline():
    lone = {**EARLIER, "models": [entry("keras", 0.8)], "test": None, "protocol": {"held_out": {}}}
    result = ComparisonResult.from_json(lone, "baselines.json")
    assert result.best_baseline is None and result.keras.is_keras and result.keras.cv is None


def test_cross_validation_scores_summarize_the_folds():
    scores = CrossValScores.of([0.7, 0.8, 0.9])
    assert scores.mean == pytest.approx(0.8) and scores.std == pytest.approx(0.1)
    assert CrossValScores.of([0.5]).std == 0.0


def test_an_entry_missing_a_key_is_refused_naming_it(tmp_path):
    broken = {key: value for key, value in entry("keras", 0.8).items() if key != "size_bytes"}
    with pytest.raises(io.ArtifactReadError, match="size_bytes"):
        ModelEntry.from_json(broken, tmp_path / "baselines.json")
