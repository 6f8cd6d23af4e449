"""Multi-worker runs: `tasklab launch` with worker processes on 127.0.0.1, as a user runs it."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import threading
import time
from pathlib import Path

import keras
import pytest

from tasklab.core import io
from tasklab.core.config import StrategyConfig, load_config
from tasklab.pipelines.run import load_task_data
from tasklab.tasks import get_task
from tasklab.training.launch import tf_configs, worker_command
from tasklab.training.strategy import StrategyError, cluster_resolver
from tasklab.training.train import split_inputs
from tests.conftest import REPO
from tests.pipelines.test_cli import TASKLAB, tasklab
from tests.pipelines.test_faults import last_run_dir, wait_for_epochs

QUICK = (
    "--set", "baselines=[]", "--set", "export.variants=[]", "--set", "explain.methods=[]",
)  # fmt: skip


def final_weights(output: str) -> dict[int, str]:
    """Each worker's `Final weights` fingerprint, from the launcher's prefixed output."""
    found = re.findall(r"\[worker (\d+)\] tasklab: Final weights ([0-9a-f]{16})", output)
    return {int(worker): digest for worker, digest in found}


def check_two_worker_run(done: subprocess.CompletedProcess, runs_dir: Path) -> dict:
    """The checks every 2-worker run passes; returns its metrics."""
    run_dir = last_run_dir(done)
    assert [p.name for p in runs_dir.iterdir()] == [run_dir.name]  # Only the chief wrote.
    weights = final_weights(done.stdout)
    assert set(weights) == {0, 1} and weights[0] == weights[1], done.stdout[-3000:]
    metrics = io.read_json(run_dir / "metrics.json")
    assert (metrics["strategy"], metrics["workers"], metrics["replicas"]) == ("multi_worker", 2, 2)
    losses = [entry["loss"] for entry in io.read_json(run_dir / "history.json")]
    assert losses[-1] < 0.7 * losses[0]
    assert not (run_dir / "backup").exists()
    return metrics


def test_two_workers_train_an_image_task_to_identical_weights(tmp_path):
    done = tasklab(
        "launch", "configs/digits.yaml", "--workers", "2", "--set", "train.epochs=4", *QUICK,
        "--runs-dir", str(tmp_path),
    )  # fmt: skip
    metrics = check_two_worker_run(done, tmp_path)
    assert metrics["test"]["accuracy"] > 0.8 and metrics["epochs_run"] == 4
    assert "[worker 0] tasklab: Training: epoch 4/4" in done.stdout


def test_two_workers_train_a_tabular_task_with_early_stopping(tmp_path):
    done = tasklab(
        "launch", "configs/breast_cancer.yaml", "--workers", "2", "--set", "train.epochs=60",
        "--set", "train.patience=3", "--set", "train.learning_rate=0.01", *QUICK,
        "--runs-dir", str(tmp_path),
    )  # fmt: skip
    metrics = check_two_worker_run(done, tmp_path)
    assert metrics["test"]["accuracy"] > 0.9
    assert metrics["stopped_early"] and metrics["epochs_run"] < 60
    # Early stopping restored the best epoch's weights, on both workers (same fingerprint).
    run_dir = last_run_dir(done)
    best = min(io.read_json(run_dir / "history.json"), key=lambda entry: entry["val_loss"])
    assert metrics["best_epoch"] == best["epoch"] == metrics["epochs_run"] - 3


def test_the_loop_stops_at_the_target_and_keeps_the_weights_that_reached_it(tmp_path):
    done = tasklab(
        "launch", "configs/breast_cancer.yaml", "--workers", "1", "--set", "train.epochs=60",
        "--set", "train.stop_at=val_accuracy>=0.9", "--set", "train.patience=2", *QUICK,
        "--runs-dir", str(tmp_path),
    )  # fmt: skip
    run_dir = last_run_dir(done)
    metrics = io.read_json(run_dir / "metrics.json")
    history = io.read_json(run_dir / "history.json")
    reached = [entry["epoch"] for entry in history if entry["val_accuracy"] >= 0.9]
    assert metrics["target_reached"]["epoch"] == reached[0] == metrics["epochs_run"] < 60
    assert metrics["target_reached"]["seconds"] == history[-1]["seconds"] > 0
    assert f"Reached val_accuracy >= 0.9 in epoch {reached[0]}: training stops." in done.stdout
    # The model kept is the one that reached the target: its validation accuracy says so.
    config = load_config(run_dir / "config.yaml")
    task_cls = get_task(config.task)
    dataset = load_task_data(config, task_cls)
    task = task_cls(config.model, dataset.spec)
    model = keras.models.load_model(run_dir / "model.keras", safe_mode=True)
    outputs = model.predict(split_inputs(dataset.val, task, 64, config.seed), verbose=0)
    accuracy = float((outputs.argmax(axis=1) == dataset.val.labels).mean())
    assert accuracy == pytest.approx(history[-1]["val_accuracy"], abs=1e-6)


def test_killing_a_worker_stops_the_launch_and_a_relaunch_resumes(tmp_path):
    command = [
        TASKLAB, "launch", "configs/digits.yaml", "--workers", "2", "--set", "train.epochs=4",
        "--set", "train.batch_size=8", *QUICK, "--runs-dir", str(tmp_path),
    ]  # fmt: skip
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    launcher = subprocess.Popen(
        command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    output: list[str] = []
    reader = threading.Thread(target=lambda: output.extend(launcher.stdout), daemon=True)
    reader.start()
    run_dir = wait_for_epochs(tmp_path, 2, launcher)
    time.sleep(0.5)  # Into epoch 3.
    pids = dict(re.findall(r"\[launch\] worker (\d+): pid (\d+)", "".join(output)))
    os.kill(int(pids["1"]), signal.SIGKILL)
    assert launcher.wait(timeout=60) == 1
    reader.join(timeout=10)
    error = launcher.stderr.read()
    assert "worker 1 was killed by signal 9 (SIGKILL); stopped the other workers" in error
    time.sleep(0.5)
    with pytest.raises(ProcessLookupError):  # The chief was stopped, not left waiting.
        os.kill(int(pids["0"]), 0)

    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert last_run_dir(done) == run_dir
    assert re.search(r"\[worker 0\] tasklab: Resuming from the backup of epoch [12]\b", done.stdout)
    manifest = io.read_json(run_dir / "manifest.json")
    assert manifest["status"] == "complete" and manifest["resumed_from_epoch"] in (1, 2)
    assert [entry["epoch"] for entry in io.read_json(run_dir / "history.json")] == [1, 2, 3, 4]
    weights = final_weights(done.stdout)
    assert weights[0] == weights[1]


def test_launch_refuses_a_bad_config_before_starting_workers(tmp_path):
    done = tasklab(
        "launch", "configs/digits.yaml", "--workers", "2", "--set", "train.epoch=3",
        "--runs-dir", str(tmp_path),
    )  # fmt: skip
    assert done.returncode == 2 and "[launch]" not in done.stdout
    assert "Did you mean 'epochs'" in done.stderr
    zero = tasklab("launch", "configs/digits.yaml", "--workers", "0")
    assert zero.returncode == 2 and "--workers must be >= 1" in zero.stderr


def test_worker_configs_form_one_local_cluster():
    configs = [json.loads(c) for c in tf_configs([4001, 4002])]
    assert [c["task"] for c in configs] == [
        {"type": "worker", "index": 0},
        {"type": "worker", "index": 1},
    ]
    assert configs[0]["cluster"] == {"worker": ["127.0.0.1:4001", "127.0.0.1:4002"]}
    command = worker_command("c.yaml", ["train.epochs=2"], "runs", fresh=True)
    assert command[-5:] == [
        "--set",
        "train.epochs=2",
        "--set",
        "strategy.name=multi_worker",
        "--fresh",
    ]


def test_cluster_from_tf_config_or_from_the_config():
    config = StrategyConfig(
        name="multi_worker", cluster=("10.0.0.1:2222", "10.0.0.2:2222"), task_index=1
    )
    resolver = cluster_resolver(config, None)
    assert resolver.cluster_spec().as_dict() == {"worker": ["10.0.0.1:2222", "10.0.0.2:2222"]}
    assert (resolver.task_type, resolver.task_id) == ("worker", 1)
    with pytest.raises(StrategyError, match=r"Both TF_CONFIG and strategy\.cluster"):
        cluster_resolver(config, '{"cluster": {}}')
    for malformed in (
        "{not json",
        '{"cluster": {"worker": ["a:1"]}}',
        '{"cluster": {"worker": ["a:1"]}, "task": {"type": "worker", "index": 3}}',
    ):
        with pytest.raises(StrategyError, match="TF_CONFIG is malformed"):
            cluster_resolver(StrategyConfig(name="multi_worker"), malformed)
