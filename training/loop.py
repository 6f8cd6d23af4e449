"""The training loop of multi-worker runs: `strategy.run` where Keras `fit` cannot run.

Keras 3's `fit` fails under `MultiWorkerMirroredStrategy`
(keras-team/keras#20585). This loop trains the same compiled Keras model with
its own `train_step`, `test_step`, optimizer and metrics, one step per
`strategy.run`, and keeps what the `fit` path's callbacks give a run: the
learning-rate schedule (set before every step), early stopping with the best
weights restored, a backup every epoch that a rerun resumes from, the best
checkpoint, `history.json`, TensorBoard logs and a divergence guard. It serves
every task: task differences stay in the task's hooks.

How the workers stay in step:

- Each worker reads its own shard of the training data (`make_input(shard=...)`)
  and every worker takes the same number of steps per epoch (the last, partial
  global batch is dropped; the shuffle differs every epoch, so every example
  is still seen).
- Gradients are summed across workers inside the optimizer's update; metric
  variables are summed when read, so the logged loss and metrics are global.
- Validation: each worker evaluates its shard of the val split with no
  collective per step (batch counts may differ); the metrics read after it
  are global.
- Only the chief (worker 0) writes the run directory. It alone decides early
  stopping and sends the decision to all; at the start it loads the backup
  and sends the weights, optimizer state and epoch to all (no shared
  filesystem needed); at the end it sends the final weights, so every worker
  ends with identical weights.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import logging
import math
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from tasklab.core import io
from tasklab.core.config import ConfigError, TrainConfig
from tasklab.core.progress import Progress as EpochLines
from tasklab.core.run_dir import RunDir
from tasklab.data.base import Dataset
from tasklab.tasks.base import Task
from tasklab.training.strategy import StrategyInfo
from tasklab.training.train import (
    TrainingClock,
    TrainingDiverged,
    TrainResult,
    diverged_message,
    epoch_summary,
    float32_copy,
    history_until,
    learning_rate_schedule,
    make_input,
    make_training_dirs,
    open_scalar_writers,
    write_epoch_scalars,
)

logger = logging.getLogger(__name__)

_STATE_FILE = "state.npz"
_PROGRESS_FILE = "progress.json"


@dataclasses.dataclass
class Progress:
    """The chief's bookkeeping between epochs, saved with every backup.

    Attributes:
        epoch: epochs completed.
        best_val_loss: the lowest validation loss so far (None before the first).
        best_epoch: the 1-based epoch that reached it.
        wait: epochs since it improved (early stopping's patience counter).
        stopped_early: whether early stopping ended training.
        reached_target: whether `train.stop_at` ended training (the weights
            that reached it are kept, not the best ones).
    """

    epoch: int = 0
    best_val_loss: float | None = None
    best_epoch: int | None = None
    wait: int = 0
    stopped_early: bool = False
    reached_target: bool = False


@dataclasses.dataclass
class Chief:
    """What only the chief holds: the run directory, progress, history and best weights."""

    run_dir: Path
    progress: Progress
    history: list[dict[str, float]]
    best_weights: list[np.ndarray] | None
    writers: dict[str, Any]
    clock: TrainingClock
    eta: EpochLines
    first_epoch: int


def fit_distributed(
    model: keras.Model,
    task: Task,
    dataset: Dataset,
    config: TrainConfig,
    strategy: tf.distribute.Strategy,
    info: StrategyInfo,
    seed: int,
    run_dir: Path | None,
) -> TrainResult:
    """Trains a compiled model on every worker of the cluster; the chief records the run.

    Every worker calls this with the same arguments except `run_dir`.

    Args:
        model: compiled inside the strategy's scope.
        task: provides preprocessing and augmentation.
        dataset: the splits (every worker loads the same ones).
        config: the train section.
        strategy: a MultiWorkerMirroredStrategy.
        info: this worker's place in the cluster.
        seed: seeds the shuffle (identical on every worker, so shards are disjoint).
        run_dir: where the chief writes; None on the other workers.

    Returns:
        The training summary (the history is the chief's; empty on the others).

    Raises:
        TrainingDiverged: on every worker, when the loss becomes NaN or infinite.
    """
    with strategy.scope():
        model.optimizer.build(model.trainable_variables)
    local_replicas = info.replicas // info.workers
    steps = steps_per_worker_epoch(len(dataset.train), config.batch_size, info)
    train_data = strategy.distribute_datasets_from_function(
        lambda context: make_input(
            dataset.train,
            task,
            context.get_per_replica_batch_size(config.batch_size * info.replicas),
            training=True,
            seed=seed,
            shard=context,
            drop_remainder=True,
        )
    )
    val_data = make_input(
        dataset.val,
        task,
        config.batch_size * local_replicas,
        training=False,
        seed=seed,
        shard=tf.distribute.InputContext(info.workers, info.worker_index, info.replicas),
    )
    steps_fn = _step_functions(model, strategy)
    state = model.weights + model.optimizer.variables
    chief = _start_chief(run_dir, model, state, config.epochs) if run_dir is not None else None
    # The chief's epoch and state (its backup's, on a resume) to every worker, in one exchange.
    epoch_and_state = [np.array(chief.progress.epoch if chief else 0), *(v.numpy() for v in state)]
    start, *values = sync_from_chief(strategy, info, epoch_and_state)
    start = int(start)
    _assign(state, values)
    if start:
        logger.info("Resuming from the backup of epoch %d", start)

    started = time.perf_counter()
    completed = start
    schedule = learning_rate_schedule(config, steps)
    for epoch in range(start, config.epochs):
        logs = _train_epoch(steps_fn, model, train_data, epoch, steps, chief, schedule)
        logs.update(_validate(steps_fn, model, val_data, epoch))
        stop = _end_epoch(chief, config, model, task, state, epoch, logs) if chief else False
        completed = epoch + 1
        if sync_from_chief(strategy, info, [np.array(stop)])[0]:
            break
    seconds = time.perf_counter() - started

    if chief and _restores_best(chief):
        model.set_weights(chief.best_weights)
    _assign(model.weights, sync_from_chief(strategy, info, model.get_weights()))
    logger.info("Final weights %s", weights_fingerprint(model))
    if chief:
        _finish_chief(chief)
    history = chief.history if chief else []
    val_losses = [entry.get("val_loss", math.inf) for entry in history]
    processed = steps * config.batch_size * info.replicas * (completed - start)
    return TrainResult(
        history=history,
        initial_epoch=start,
        epochs_run=completed,
        best_epoch=int(np.argmin(val_losses)) + 1 if history else None,
        stopped_early=bool(chief and chief.progress.stopped_early),
        train_seconds=seconds,
        examples_per_second=processed / seconds if seconds else 0.0,
    )


def _restores_best(chief: Chief) -> bool:
    """Early stopping restores the best weights, unless the run stopped at its target."""
    progress = chief.progress
    return progress.stopped_early and not progress.reached_target and chief.best_weights is not None


def steps_per_worker_epoch(examples: int, batch_size: int, info: StrategyInfo) -> int:
    """Training steps per epoch that every worker can take with full batches.

    Args:
        examples: training examples in the split.
        batch_size: examples per replica per step.
        info: the cluster's shape.

    Returns:
        The steps (the smallest shard's full batches).

    Raises:
        ConfigError: when not even one global batch fits.
    """
    per_worker_batch = batch_size * (info.replicas // info.workers)
    steps = (examples // info.workers) // per_worker_batch
    if steps == 0:
        raise ConfigError(
            f"The train split ({examples} examples) is smaller than one global batch "
            f"({batch_size} per replica x {info.replicas} replicas). Lower train.batch_size "
            "or use fewer workers."
        )
    return steps


@dataclasses.dataclass(frozen=True)
class _Steps:
    train: Any
    validate: Any
    read_metrics: Any


def _step_functions(model: keras.Model, strategy: tf.distribute.Strategy) -> _Steps:
    """The compiled functions of the loop: a training step, a validation step, a metrics read."""

    def replica_train_step(data):
        # The epoch's running mean loss on this replica: non-finite from the first bad step on.
        return model.train_step(data)["loss"]

    def replica_test_step(data):
        model.test_step(data)

    if model.jit_compile:
        replica_train_step = tf.function(replica_train_step, jit_compile=True)

    @tf.function
    def train(iterator):
        losses = strategy.run(replica_train_step, args=(next(iterator),))
        return strategy.reduce(tf.distribute.ReduceOp.MEAN, losses, axis=None)

    @tf.function(reduce_retracing=True)
    def validate(data):
        # A plain (not distributed) batch goes to every local replica: with one
        # replica per worker that is this worker's share; with several, each
        # sees the same batch, which leaves the metrics' means unchanged.
        strategy.run(replica_test_step, args=(data,))

    @tf.function
    def read_metrics():
        # Metric variables sum over every replica of every worker when read here.
        return model.get_metrics_result()

    return _Steps(train, validate, read_metrics)


def _read_logs(steps_fn: _Steps, prefix: str = "") -> dict[str, float]:
    return {prefix + name: float(value) for name, value in steps_fn.read_metrics().items()}


def _train_epoch(
    steps_fn: _Steps,
    model: keras.Model,
    train_data,
    epoch: int,
    steps: int,
    chief: Chief | None,
    schedule: Callable[[int], float],
) -> dict[str, float]:
    """Runs one epoch of training steps; raises `TrainingDiverged` at a non-finite loss.

    The learning rate is set from `schedule` before each step (every epoch has
    `steps` steps, so the optimizer step is `epoch * steps + step`, on a resume too).
    """
    model.reset_metrics()
    iterator = iter(train_data)
    bar = keras.utils.Progbar(steps) if chief is not None and sys.stdout.isatty() else None
    for step in range(steps):
        model.optimizer.learning_rate = schedule(epoch * steps + step)
        loss = float(steps_fn.train(iterator))
        if not math.isfinite(loss):
            raise TrainingDiverged(diverged_message(loss, epoch + 1, step + 1, steps))
        if bar is not None:
            bar.update(step + 1, [("loss", loss)])
    return _read_logs(steps_fn)


def _validate(steps_fn: _Steps, model: keras.Model, val_data, epoch: int) -> dict[str, float]:
    model.reset_metrics()
    for batch in val_data:
        steps_fn.validate(batch)
    logs = _read_logs(steps_fn, prefix="val_")
    if not math.isfinite(logs.get("val_loss", 0.0)):
        raise TrainingDiverged(diverged_message(logs["val_loss"], epoch + 1, "validation", None))
    return logs


def _end_epoch(
    chief: Chief,
    config: TrainConfig,
    model: keras.Model,
    task: Task,
    state: list,
    epoch: int,
    logs: dict[str, float],
) -> bool:
    """The chief's work after an epoch: logs, history, best checkpoint, early stopping, the
    `train.stop_at` target, backup.

    Returns:
        Whether training stops (early stopping or the target reached).
    """
    chief.eta.update(
        epoch + 1 - chief.first_epoch,
        f"epoch {epoch + 1}/{config.epochs}: {epoch_summary(logs)}",
    )
    chief.history.append({"epoch": epoch + 1, **logs, "seconds": chief.clock.seconds()})
    io.write_json(RunDir(chief.run_dir).history, chief.history)
    write_epoch_scalars(chief.writers, logs, epoch)

    progress = chief.progress
    progress.epoch = epoch + 1
    val_loss = logs.get("val_loss", math.inf)
    if progress.best_val_loss is None or val_loss < progress.best_val_loss:
        progress.best_val_loss, progress.best_epoch, progress.wait = val_loss, epoch + 1, 0
        chief.best_weights = model.get_weights()
        with io.atomic_path(RunDir(chief.run_dir).best_model) as tmp:
            float32_copy(task, model).save(tmp)
    else:
        progress.wait += 1
    if config.patience is not None and progress.wait >= config.patience:
        progress.stopped_early = True
        logger.info("Early stopping: the best validation loss was epoch %d", progress.best_epoch)
    if config.target is not None and config.target.reached(logs):
        progress.reached_target = True
        print(config.target.stop_message(epoch + 1), flush=True)
    write_backup(RunDir(chief.run_dir).backup, progress, state, chief.best_weights)
    return progress.stopped_early or progress.reached_target


def _start_chief(run_dir: Path, model: keras.Model, state: list, epochs: int) -> Chief:
    """Loads the run's backup (if any) into the model and optimizer; opens the logs."""
    progress, best = Progress(), None
    make_training_dirs(run_dir)
    loaded = read_backup(RunDir(run_dir).backup, state)
    if loaded is not None:
        progress, values, best = loaded
        _assign(state, values)
    history = history_until(RunDir(run_dir).history, progress.epoch)
    writers = open_scalar_writers(RunDir(run_dir).logs)
    eta = EpochLines("Training", epochs - progress.epoch, logger, min_interval=0)
    return Chief(
        run_dir, progress, history, best, writers, TrainingClock(history), eta, progress.epoch
    )


def _finish_chief(chief: Chief) -> None:
    for writer in chief.writers.values():
        writer.close()
    # Training finished: the backup is spent (as Keras' BackupAndRestore removes its own).
    shutil.rmtree(RunDir(chief.run_dir).backup, ignore_errors=True)


def write_backup(
    backup_dir: Path, progress: Progress, state: list, best: list[np.ndarray] | None
) -> Path:
    """Writes the epoch's backup as a directory that appears whole or not at all.

    `backup/epoch-NNNN/` holds `state.npz` (model weights and optimizer
    variables, then the best weights; plain arrays, no pickle) and
    `progress.json`. It is written under a temporary name and renamed; older
    epochs are removed after, so a kill at any point leaves a complete backup.

    Returns:
        The new backup's directory.
    """
    staging = backup_dir / f".epoch-{progress.epoch:04d}.tmp"
    final = backup_dir / f"epoch-{progress.epoch:04d}"
    arrays = {f"state_{i:05d}": np.asarray(v.numpy()) for i, v in enumerate(state)}
    arrays.update({f"best_{i:05d}": w for i, w in enumerate(best or [])})
    try:
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        np.savez(staging / _STATE_FILE, **arrays)
        io.write_json(staging / _PROGRESS_FILE, dataclasses.asdict(progress))
        staging.rename(final)
    except OSError as error:
        shutil.rmtree(staging, ignore_errors=True)
        raise io.write_error(final, error) from error
    for older in backup_dir.glob("epoch-*"):
        if older != final:
            shutil.rmtree(older, ignore_errors=True)
    return final


def read_backup(
    backup_dir: Path, state: list
) -> tuple[Progress, list[np.ndarray], list[np.ndarray] | None] | None:
    """Reads the newest complete backup, checking it fits the model.

    Returns:
        The progress, the state values and the best weights; None without a backup.

    Raises:
        ValueError: when the backup's arrays do not fit this model (a
            different model wrote it).
    """
    complete = sorted(backup_dir.glob("epoch-[0-9]*")) if backup_dir.is_dir() else []
    if not complete:
        return None
    newest = complete[-1]
    progress = Progress(**io.read_json(newest / _PROGRESS_FILE))
    with np.load(newest / _STATE_FILE, allow_pickle=False) as archive:
        values = [archive[f"state_{i:05d}"] for i in range(len(state))]
        best_keys = sorted(k for k in archive.files if k.startswith("best_"))
        best = [archive[k] for k in best_keys] or None
    shapes = [tuple(v.shape) for v in state]
    if [tuple(v.shape) for v in values] != shapes:
        raise ValueError(
            f"The backup in {newest} does not fit this model (its arrays have other shapes). "
            "Start over with --fresh."
        )
    return progress, values, best


def sync_from_chief(
    strategy: tf.distribute.Strategy, info: StrategyInfo, arrays: list[np.ndarray]
) -> list[np.ndarray]:
    """Every worker gets the chief's values of `arrays` (a broadcast).

    A sum over all replicas in which only the first replica (on the chief)
    contributes: every worker passes arrays of the same shapes. Values travel
    as float64, which holds float32 and integer counters exactly.

    Args:
        strategy: the multi-worker strategy.
        info: the cluster's shape (one worker: nothing to send).
        arrays: this worker's arrays.

    Returns:
        The chief's arrays, in the given shapes and dtypes.
    """
    if info.workers == 1:
        return [np.asarray(a) for a in arrays]
    arrays = [np.asarray(a) for a in arrays]
    flat = np.concatenate([a.astype(np.float64).ravel() for a in arrays])
    summed = _broadcast_function(strategy)(tf.constant(flat))
    values = strategy.experimental_local_results(summed)[0].numpy()
    out, offset = [], 0
    for a in arrays:
        out.append(values[offset : offset + a.size].reshape(a.shape).astype(a.dtype))
        offset += a.size
    return out


def finish_together(strategy: tf.distribute.Strategy, info: StrategyInfo) -> None:
    """A barrier at the end of a multi-worker run: every worker returns once the chief calls it.

    The chief calls it when the whole run (evaluation, report) is done; the
    other workers wait in it, so the cluster ends as a whole, and if the
    chief fails first they fail too (they miss its heartbeats).
    """
    sync_from_chief(strategy, info, [np.zeros(1)])


@functools.cache
def _broadcast_function(strategy: tf.distribute.Strategy):
    """The compiled sum-from-the-first-replica of a float64 vector (one per strategy)."""

    def replica_fn(vector):
        context = tf.distribute.get_replica_context()
        first = tf.equal(context.replica_id_in_sync_group, 0)
        return context.all_reduce(
            tf.distribute.ReduceOp.SUM, tf.where(first, vector, tf.zeros_like(vector))
        )

    @tf.function(reduce_retracing=True)
    def broadcast(vector):
        return strategy.run(replica_fn, args=(vector,))

    return broadcast


def _assign(variables: list, values: list[np.ndarray]) -> None:
    for variable, value in zip(variables, values, strict=True):
        variable.assign(value)


def weights_fingerprint(model: keras.Model) -> str:
    """A short SHA-256 of the model's weights: equal on workers that hold equal weights."""
    digest = hashlib.sha256()
    for weights in model.get_weights():
        digest.update(np.ascontiguousarray(weights).tobytes())
    return digest.hexdigest()[:16]
