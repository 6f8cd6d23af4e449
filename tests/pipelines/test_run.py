"""End-to-end runs through the Python API (few epochs, small data)."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow_datasets as tfds
import yaml

from tasklab.core import io
from tasklab.core.config import load_config, parse_config
from tasklab.core.run_dir import RunDir
from tasklab.pipelines.run import run
from tasklab.training import train
from tests.conftest import REPO


def digits_config(*overrides):
    # Baselines are tested in tests/baselines; these runs test the training pipeline.
    return load_config(
        REPO / "configs" / "digits.yaml",
        ["train.epochs=3", "baselines=[]", "export.variants=[]", "explain.methods=[]", *overrides],
    )


def test_digits_run_writes_every_artifact(tmp_path):
    result = run(digits_config(), runs_dir=tmp_path)
    run_dir = result.run_dir
    assert run_dir.parent == tmp_path and run_dir.name.startswith("digits-")
    metrics = io.read_json(run_dir / "metrics.json")
    assert metrics == result.metrics.to_json()
    for key in (
        "task",
        "dataset",
        "strategy",
        "replicas",
        "seed",
        "test",
        "intervals",
        "train_seconds",
        "examples_per_second",
    ):
        assert key in metrics
    assert (metrics["strategy"], metrics["replicas"], metrics["seed"]) == ("cpu", 1, 42)
    assert metrics["test"]["accuracy"] > 0.5  # Three epochs are far above chance (0.1).
    low, high = metrics["intervals"]["accuracy"]
    assert low <= metrics["test"]["accuracy"] <= high
    assert metrics["examples_per_second"] > 0 and metrics["epochs_run"] == 3

    manifest = io.read_json(run_dir / "manifest.json")
    assert manifest["status"] == "complete" and manifest["replicas"] == 1
    assert manifest["versions"]["tensorflow"].startswith("2.21")
    assert len(manifest["data_fingerprint"]) == 64
    assert [e["epoch"] for e in io.read_json(run_dir / "history.json")] == [1, 2, 3]
    assert parse_config(yaml.safe_load((run_dir / "config.yaml").read_text())) == digits_config()
    assert (run_dir / "report.html").read_text().count("data:image/png;base64,") == 2
    assert any((run_dir / "logs").rglob("events.out.tfevents.*"))
    assert not (run_dir / "backup").exists()  # Removed once training finished.
    assert not list(run_dir.rglob(".*.tmp*"))  # No temporary files left behind.

    model = keras.models.load_model(run_dir / "model.keras", safe_mode=True)
    best = keras.models.load_model(run_dir / "checkpoints" / "best.keras", safe_mode=True)
    assert model.count_params() == best.count_params()


def test_mirrored_run_with_two_logical_cpus(tmp_path):
    config = digits_config("strategy.name=mirrored", "strategy.devices=2", "train.epochs=4")
    result = run(config, runs_dir=tmp_path)
    assert result.metrics.replicas == 2 and result.metrics.strategy == "mirrored"
    devices = io.read_json(result.run_dir / "manifest.json")["devices"]
    assert [d.rsplit("/", 1)[-1] for d in devices] == ["device:CPU:0", "device:CPU:1"]
    assert result.metrics.test["accuracy"] > 0.5


class Interrupt(keras.callbacks.Callback):
    """Stops the process-level run after an epoch, as a kill would (the backup is written first)."""

    def on_epoch_end(self, epoch, logs=None):
        if epoch == 1:
            raise KeyboardInterrupt


def test_interrupted_run_resumes_where_it_stopped(tmp_path, monkeypatch):
    config = digits_config("train.epochs=4", "train.patience=null")
    original = train.build_callbacks
    monkeypatch.setattr(train, "build_callbacks", lambda *a: [*original(*a), Interrupt()])
    with pytest.raises(KeyboardInterrupt):
        run(config, runs_dir=tmp_path)
    [run_dir] = tmp_path.iterdir()
    assert io.read_json(run_dir / "manifest.json")["status"] == "failed"
    assert (run_dir / "backup").is_dir()

    monkeypatch.setattr(train, "build_callbacks", original)
    result = run(config, runs_dir=tmp_path)
    assert result.resumed and result.run_dir == run_dir
    assert [e["epoch"] for e in io.read_json(run_dir / "history.json")] == [1, 2, 3, 4]
    manifest = io.read_json(run_dir / "manifest.json")
    assert manifest["status"] == "complete" and manifest["resumed_from_epoch"] == 2
    assert result.metrics.epochs_run == 4

    fresh = run(config, runs_dir=tmp_path, fresh=True)
    assert not fresh.resumed and fresh.run_dir != run_dir


def test_folder_run_skips_a_corrupt_file_and_says_so(image_folder, tmp_path):
    root = image_folder(per_class=20, size=16)
    (root / "circle" / "corrupt.png").write_bytes(b"\x89PNG broken")
    config = parse_config(
        {
            "name": "shapes",
            "task": "image_classification",
            "data": {"uri": f"folder:{root}", "skip_corrupt": True},
            "model": {"augment": False},
            "train": {"epochs": 12, "batch_size": 8, "learning_rate": 0.01, "patience": None},
            "strategy": {"name": "cpu"},
            "baselines": [],
            "export": {"variants": []},
            "explain": {"methods": []},
        }
    )
    result = run(config, runs_dir=tmp_path / "runs")
    assert any("circle/corrupt.png" in note for note in result.metrics.data_notes)
    assert "circle/corrupt.png" in (result.run_dir / "report.html").read_text()
    # The band position is an easy signal: the CNN learns it from 42 images.
    assert result.metrics.test["accuracy"] >= 0.9


def test_tfds_mnist_run_through_mock_data(tmp_path):
    config = parse_config(
        {
            "name": "mnist",
            "task": "image_classification",
            "data": {"uri": "tfds:mnist", "tfds_data_dir": str(tmp_path / "tfds")},
            "train": {"epochs": 1, "batch_size": 16},
            "strategy": {"name": "cpu"},
            "baselines": ["dummy"],  # tfds streams cannot be re-split: held-out comparison only.
            "export": {"variants": []},
            "explain": {"methods": []},
        }
    )
    with tfds.testing.mock_data(num_examples=120):
        result = run(config, runs_dir=tmp_path / "runs")
    assert result.metrics.splits == {"train": 84, "val": 12, "test": 24}
    assert np.isfinite(result.metrics.test["log_loss"])
    comparison = io.read_json(result.run_dir / "baselines.json")
    assert comparison["protocol"]["cv"] is None
    assert comparison["test"]["name"] == "McNemar's exact test"


def test_breast_cancer_classification_run(tmp_path):
    config = load_config(
        REPO / "configs" / "breast_cancer.yaml",
        ["train.epochs=15", "baselines=[]", "export.variants=[]", "explain.methods=[]"],
    )
    result = run(config, runs_dir=tmp_path)
    metrics = result.metrics
    assert metrics.task == "tabular_classification" and metrics.primary_metric == "accuracy"
    assert metrics.test["accuracy"] > 0.9  # The majority class alone is 0.63.
    assert any(note.startswith("Column kinds (30 inputs)") for note in metrics.data_notes)


def test_diabetes_regression_run(tmp_path):
    config = load_config(REPO / "configs" / "diabetes.yaml", ["train.epochs=60", "baselines=[]"])
    result = run(config, runs_dir=tmp_path)
    metrics = result.metrics
    assert (metrics.primary_metric, metrics.higher_is_better) == ("rmse", False)
    assert set(metrics.test) == {"rmse", "mae", "r2"} and metrics.per_class == {}
    # Predicting the mean gives R^2 = 0 and RMSE = the target's std (about 77).
    assert metrics.test["r2"] > 0.3 and metrics.test["rmse"] < 65
    low, high = metrics.intervals["rmse"]
    assert low < metrics.primary_value < high
    html = (result.run_dir / "report.html").read_text()
    assert "test rmse" in html and "Confusion matrix" not in html
    # The export stage runs by default; a regression model has no classes to agree on.
    exported = {e["name"]: e for e in io.read_json(result.run_dir / "export.json")["variants"]}
    assert {"float32", "float16", "dynamic_int8", "int8"} <= set(exported)
    assert all(entry["agreement"] is None for entry in exported.values())
    assert exported["float32"]["passed"] and exported["float32"]["max_abs_diff"] < 1e-3
    spec = io.read_json(result.run_dir / "export" / "preprocessing.json")
    assert spec["output"] == {"kind": "value", "labels_file": None}
    assert [c["name"] for c in spec["input"]["columns"]][:2] == ["age", "sex"]
    # So does the explain stage: SHAP of the net explains the value; without an XGBoost
    # baseline, Tree SHAP is skipped and the report says why.
    keras_shap, tree_shap = io.read_json(result.run_dir / "explain.json")["methods"]
    assert keras_shap["checks"]["additivity"]["value"] < 0.01 * metrics.test["rmse"]
    assert "no XGBoost baseline" in tree_shap["skipped"] and "tree_shap did not run" in html


def test_a_run_another_process_is_working_in_is_not_resumed(tmp_path):
    """Two commands on one config: the second starts its own run rather than training in the
    first one's directory; once the first process is gone, its run can be resumed."""
    from tasklab.pipelines.run import find_interrupted_run

    config_yaml = "name: digits\n"
    run_dir = tmp_path / "digits-20260101T000000Z"
    RunDir(run_dir).backup.mkdir(parents=True)
    (run_dir / "config.yaml").write_text(config_yaml)
    io.write_json(run_dir / "manifest.json", {"status": "running"})
    other_process = io.DirectoryLock(run_dir)  # A second open file: flock sees another holder.
    assert other_process.acquire()
    assert find_interrupted_run(tmp_path, "digits", config_yaml) is None
    other_process.release()  # As when that process ends, kill -9 included.
    found, lock = find_interrupted_run(tmp_path, "digits", config_yaml)
    assert found == run_dir and not io.DirectoryLock(run_dir).acquire()
    lock.release()
