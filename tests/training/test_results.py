"""`metrics.json` as a typed record: runs from before a key was recorded still read."""

from __future__ import annotations

import pytest

from tasklab.core import io
from tasklab.training.results import RunMetrics

# A classification run's metrics.json before `data_kind`, `parameters`, `workers`,
# `precision`, `stop_at` and `target_reached` were recorded.
EARLIER = {
    "task": "image_classification", "dataset": "builtin:digits", "model": "small_cnn",
    "strategy": "cpu", "replicas": 1, "seed": 0, "primary_metric": "accuracy",
    "higher_is_better": True, "test": {"accuracy": 0.9, "roc_auc_ovr": None},
    "intervals": {"accuracy": [0.85, 0.95]}, "per_class": {}, "confusion_matrix": [[1]],
    "class_names": ["0"], "splits": {"train": 8, "val": 1, "test": 1}, "epochs_run": 3,
    "best_epoch": 3, "stopped_early": False, "train_seconds": 1.0,
    "examples_per_second": 8.0, "data_notes": [],
}  # fmt: skip


def test_earlier_metrics_read_with_defaults(tmp_path):
    io.write_json(tmp_path / "metrics.json", EARLIER)
    metrics = RunMetrics.read(tmp_path / "metrics.json")
    assert metrics.data_kind is None and metrics.target_reached is None
    assert metrics.primary_value == 0.9


def test_metrics_without_a_required_key_are_refused_naming_it(tmp_path):
    io.write_json(tmp_path / "metrics.json", {k: v for k, v in EARLIER.items() if k != "test"})
    with pytest.raises(io.ArtifactReadError, match=r"metrics\.json.*\['test'\]"):
        RunMetrics.read(tmp_path / "metrics.json")


def test_metrics_write_the_keys_in_their_declared_order(tmp_path):
    RunMetrics.from_json(EARLIER, "metrics.json").write(tmp_path / "metrics.json")
    written = list(io.read_json(tmp_path / "metrics.json"))
    assert written[:4] == ["task", "dataset", "data_kind", "model"]
    assert written[-1] == "data_notes"
