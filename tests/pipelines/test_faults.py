"""Runs that survive faults: kill -9 and resume, a diverging loss, a failing write."""

from __future__ import annotations

import errno
import os
import pathlib
import signal
import subprocess
import time
from pathlib import Path

import keras
import numpy as np
import pytest

from tasklab.core import io
from tasklab.core.io import ArtifactWriteError
from tasklab.pipelines.run import run
from tasklab.training import train
from tasklab.training.train import TrainingDiverged
from tests.conftest import REPO
from tests.pipelines.test_cli import TASKLAB, tasklab
from tests.pipelines.test_run import digits_config

# Small batches make an epoch long enough (about 150 steps) to be killed in the middle of.
KILL_SETTINGS = (
    "--set", "train.deterministic=true", "--set", "train.epochs=5", "--set", "train.batch_size=8",
    "--set", "train.patience=null", "--set", "baselines=[]", "--set", "export.variants=[]",
    "--set", "explain.methods=[]",
)  # fmt: skip
# Test accuracy of a resumed run vs an uninterrupted one (360 test digits). The resumed run
# restarts the shuffle order at the resume point, so it is close to, not equal to, the other.
RESUME_TOLERANCE = 0.03


def wait_for_epochs(runs_dir: Path, epochs: int, process: subprocess.Popen, timeout: float = 300):
    """Waits until the run in `runs_dir` has logged `epochs` epochs; returns its directory."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, "the run ended before it could be killed"
        for history in runs_dir.glob("*/history.json"):
            if len(io.read_json(history)) >= epochs:
                return history.parent
        time.sleep(0.05)
    raise AssertionError(f"no run in {runs_dir} reached {epochs} epochs in {timeout} s")


def last_run_dir(done: subprocess.CompletedProcess) -> Path:
    assert done.returncode == 0, done.stderr[-3000:]
    return Path(done.stdout.strip().splitlines()[-1])


def test_kill_9_mid_epoch_then_the_same_command_resumes(tmp_path):
    killed_runs, clean_runs = tmp_path / "killed", tmp_path / "clean"
    command = [TASKLAB, "run", "configs/digits.yaml", *KILL_SETTINGS]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    process = subprocess.Popen(
        [*command, "--runs-dir", str(killed_runs)],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    run_dir = wait_for_epochs(killed_runs, 2, process)
    time.sleep(0.5)  # Past epoch 2's backup, into epoch 3 (an epoch takes over a second).
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    assert io.read_json(run_dir / "manifest.json")["status"] == "running"  # It had no say.

    resumed_dir = last_run_dir(tasklab(*command[1:], "--runs-dir", str(killed_runs)))
    assert resumed_dir == run_dir
    manifest = io.read_json(run_dir / "manifest.json")
    # The history is written just before the backup, so the kill may precede the backup of 2.
    assert manifest["status"] == "complete" and manifest["resumed_from_epoch"] in (1, 2)
    history = io.read_json(run_dir / "history.json")
    assert [entry["epoch"] for entry in history] == [1, 2, 3, 4, 5]
    resumed = io.read_json(run_dir / "metrics.json")
    assert resumed["epochs_run"] == 5

    clean_dir = last_run_dir(tasklab(*command[1:], "--runs-dir", str(clean_runs)))
    clean = io.read_json(clean_dir / "metrics.json")
    clean_history = io.read_json(clean_dir / "history.json")
    # It went on from the backup's weights, not from scratch.
    first_resumed = history[manifest["resumed_from_epoch"]]
    assert first_resumed["loss"] < clean_history[0]["loss"] / 2
    assert abs(resumed["test"]["accuracy"] - clean["test"]["accuracy"]) <= RESUME_TOLERANCE
    assert resumed["test"]["accuracy"] > 0.9


class PoisonWeights(keras.callbacks.Callback):
    """Makes a weight infinite after a given step, as an exploding update would."""

    def __init__(self, epoch: int, step: int):
        super().__init__()
        self.at = (epoch, step)
        self.epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if (self.epoch, batch) == self.at:
            weights = self.model.trainable_weights[0]
            weights.assign(np.full(weights.shape, np.inf, dtype=weights.dtype))


def test_a_nan_loss_stops_with_epoch_and_step_and_keeps_the_last_good_state(tmp_path, monkeypatch):
    config = digits_config("train.epochs=4", "train.patience=null")
    original = train.build_callbacks
    # After step 3 of epoch 2 (0-based: epoch 1, batch 2), so step 4 is the first bad one.
    monkeypatch.setattr(
        train, "build_callbacks", lambda *a: [*original(*a), PoisonWeights(epoch=1, step=2)]
    )
    with pytest.raises(TrainingDiverged, match=r"became nan in epoch 2, at step 4 of 37") as error:
        run(config, runs_dir=tmp_path)
    assert "backup of epoch 1" in str(error.value)
    [run_dir] = tmp_path.iterdir()
    manifest = io.read_json(run_dir / "manifest.json")
    assert manifest["status"] == "failed" and "TrainingDiverged" in manifest["error"]
    assert [entry["epoch"] for entry in io.read_json(run_dir / "history.json")] == [1]
    best = keras.models.load_model(run_dir / "checkpoints" / "best.keras", safe_mode=True)
    assert all(np.isfinite(w).all() for w in best.get_weights())
    assert (run_dir / "backup").is_dir()

    monkeypatch.setattr(train, "build_callbacks", original)
    resumed = run(config, runs_dir=tmp_path)  # The same config resumes from epoch 1's backup.
    assert resumed.run_dir == run_dir and resumed.metrics.epochs_run == 4
    assert io.read_json(run_dir / "manifest.json")["resumed_from_epoch"] == 1


def test_a_diverging_multi_worker_run_names_epoch_and_step(tmp_path):
    done = tasklab(
        "run", "configs/diabetes.yaml", "--set", "strategy.name=multi_worker",
        "--set", "train.learning_rate=1e12", "--set", "train.schedule=constant",
        "--set", "baselines=[]", "--set", "export.variants=[]", "--set", "explain.methods=[]",
        "--runs-dir", str(tmp_path),
    )  # fmt: skip
    assert done.returncode == 2
    [line] = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert "The training loss became inf in epoch 1, at step" in line
    assert "nothing was saved" in line and "Lower train.learning_rate" in line
    [run_dir] = tmp_path.iterdir()
    manifest = io.read_json(run_dir / "manifest.json")
    assert manifest["status"] == "failed" and "became inf" in manifest["error"]


def test_a_failing_write_leaves_earlier_artifacts_intact_and_resumes(tmp_path, monkeypatch):
    config = digits_config("train.epochs=3", "train.patience=null")
    write_text = pathlib.Path.write_text
    history_writes = []

    def disk_full_at_the_second_history(path, *args, **kwargs):
        if path.name.startswith(".history."):
            history_writes.append(path)
            if len(history_writes) == 2:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        return write_text(path, *args, **kwargs)

    monkeypatch.setattr(pathlib.Path, "write_text", disk_full_at_the_second_history)
    with pytest.raises(ArtifactWriteError, match=r"history\.json \(No space left on device\)"):
        run(config, runs_dir=tmp_path)
    monkeypatch.setattr(pathlib.Path, "write_text", write_text)

    [run_dir] = tmp_path.iterdir()
    assert [entry["epoch"] for entry in io.read_json(run_dir / "history.json")] == [1]
    assert not list(run_dir.rglob(".*.tmp*"))  # The half-written file is gone.
    manifest = io.read_json(run_dir / "manifest.json")
    assert manifest["status"] == "failed" and "No space left on device" in manifest["error"]
    keras.models.load_model(run_dir / "checkpoints" / "best.keras", safe_mode=True)

    resumed = run(config, runs_dir=tmp_path)
    assert resumed.run_dir == run_dir and resumed.metrics.epochs_run == 3
    assert [entry["epoch"] for entry in io.read_json(run_dir / "history.json")] == [1, 2, 3]


def test_a_failing_write_is_one_clear_error_line(tmp_path, capsys, monkeypatch):
    from tasklab.pipelines.cli import main

    def no_space(path, *args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(pathlib.Path, "write_text", no_space)
    code = main(["run", "configs/digits.yaml", "--runs-dir", str(tmp_path)])
    assert code == 2
    [line] = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert "config.yaml (No space left on device)" in line and "run the same command" in line
