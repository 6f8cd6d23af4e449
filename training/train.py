"""Training with Keras `fit`: input pipelines, LR schedule, precision and the callbacks every
run gets. (Multi-worker runs train with `training.loop` instead, on the same pieces.)"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import math
import sys
import threading
import time
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf
from sklearn.model_selection import train_test_split

from tasklab.core import io
from tasklab.core.config import ConfigError, StopAt, TrainConfig
from tasklab.core.errors import UserError
from tasklab.core.problems import Problem
from tasklab.core.progress import Progress
from tasklab.core.registry import closest_hint
from tasklab.core.run_dir import RunDir
from tasklab.data.base import Dataset, Split
from tasklab.tasks.base import Task
from tasklab.training.strategy import replica_devices

logger = logging.getLogger(__name__)

_SPLITS = ("train", "validation")


class TrainingDiverged(UserError, RuntimeError):
    """The loss became NaN or infinite; training stopped before saving the bad weights."""


def diverged_message(loss: float, epoch: int, step: int | str, steps: int | None) -> str:
    """The error of a diverged run: where it happened, what is kept, what to change.

    Args:
        loss: the non-finite loss.
        epoch: the 1-based epoch.
        step: the 1-based step, or `validation`.
        steps: steps per epoch, if known.

    Returns:
        One paragraph.
    """
    where = "in validation" if step == "validation" else f"at step {step}"
    if steps and step != "validation":
        where += f" of {steps}"
    if epoch > 1:
        kept = (
            f"the backup of epoch {epoch - 1} and checkpoints/best.keras are intact (nothing of "
            f"epoch {epoch} was saved); running the same command again resumes from that backup"
        )
    else:
        kept = "no epoch had finished, so nothing was saved"
    return (
        f"The training loss became {loss} in epoch {epoch}, {where}. Training stopped; {kept}. "
        "Lower train.learning_rate, or look for extreme or invalid values in the data."
    )


@dataclasses.dataclass(frozen=True)
class TrainResult:
    """What training did.

    Attributes:
        history: one dict per epoch (all epochs, across resumes) of Keras logs.
        initial_epoch: the epoch this process started from (> 0 when resumed).
        epochs_run: the epochs completed in total.
        best_epoch: the 1-based epoch with the lowest validation loss.
        stopped_early: whether early stopping ended training.
        train_seconds: wall time of `fit` in this process.
        examples_per_second: training examples processed per second in this process.
    """

    history: list[dict[str, float]]
    initial_epoch: int
    epochs_run: int
    best_epoch: int | None
    stopped_early: bool
    train_seconds: float
    examples_per_second: float


def make_input(
    split: Split,
    task: Task,
    global_batch: int,
    training: bool,
    seed: int,
    shard: tf.distribute.InputContext | None = None,
    drop_remainder: bool = False,
) -> tf.data.Dataset:
    """Builds the batched tf.data pipeline of a split.

    In-memory splits are preprocessed once and cached, then shuffled each
    epoch; streamed splits shuffle their (cheap) file references before
    decoding and are never cached whole, so memory stays flat.

    Args:
        split: the split.
        task: provides the per-example preprocessing.
        global_batch: examples per batch (per step across all replicas, or per
            replica for a sharded pipeline).
        training: shuffle (reshuffled every epoch) when True.
        seed: seeds the shuffle.
        shard: read only this input pipeline's share (one in
            `num_input_pipelines` examples), for multi-worker training. Every
            worker shuffles with the same seed before sharding, so the shares
            are disjoint and together cover the split in every epoch; streamed
            files are sharded before decoding, so each worker decodes only its own.
        drop_remainder: drop the last, smaller batch (every worker must take
            the same number of steps).

    Returns:
        Batched, prefetched `(inputs, labels)`.
    """
    autotune = tf.data.AUTOTUNE
    if split.in_memory:
        dataset = split.make_dataset().map(task.preprocess, num_parallel_calls=autotune).cache()
        if training:
            dataset = dataset.shuffle(len(split), seed=seed, reshuffle_each_iteration=True)
        dataset = _shard(dataset, shard)
    else:
        dataset = _shard(split.make_dataset(shuffle_seed=seed if training else None), shard)
        dataset = dataset.map(task.preprocess, num_parallel_calls=autotune)
    dataset = dataset.batch(global_batch, drop_remainder=drop_remainder)
    if training:
        # Sequential on purpose: the augmentation layers draw from a seeded generator.
        dataset = dataset.map(task.augment_batch)
    return dataset.prefetch(autotune)


def _shard(dataset: tf.data.Dataset, shard: tf.distribute.InputContext | None) -> tf.data.Dataset:
    if shard is None or shard.num_input_pipelines == 1:
        return dataset
    return dataset.shard(shard.num_input_pipelines, shard.input_pipeline_id)


def split_inputs(
    split: Split, task: Task, batch_size: int, seed: int, rows: np.ndarray | None = None
) -> np.ndarray:
    """The model-ready inputs of a split (or of some of its rows), in the split's order.

    Only the chosen rows are kept, batch by batch, so the whole split never
    sits in memory when a few rows are asked for.

    Args:
        split: the split.
        task: preprocesses each example as for evaluation.
        batch_size: examples per preprocessing batch.
        seed: seeds the input pipeline.
        rows: indices of the rows to keep (default: all of them).

    Returns:
        `(rows, *input_shape)` inputs, in increasing row order.
    """
    chosen = None
    if rows is not None:
        chosen = np.zeros(len(split.labels), dtype=bool)
        chosen[np.asarray(rows, dtype=int)] = True
    kept, offset = [], 0
    for x, _ in make_input(split, task, batch_size, training=False, seed=seed).as_numpy_iterator():
        kept.append(x if chosen is None else x[chosen[offset : offset + len(x)]])
        offset += len(x)
    return np.concatenate(kept)


def sample_rows(split: Split, problem: Problem, size: int, seed: int) -> np.ndarray:
    """Indices of a seeded sample of a split, stratified by class where labels are classes.

    Returns:
        Up to `size` sorted row indices, with the split's class proportions.
    """
    labels = split.labels
    indices = np.arange(len(labels))
    if size >= len(labels):
        return indices
    stratify = problem.strata(labels)
    if stratify is not None and np.bincount(stratify).min() < 2:
        stratify = None  # A class with one example cannot be stratified; sample at random.
    chosen, _ = train_test_split(indices, train_size=size, stratify=stratify, random_state=seed)
    return np.sort(chosen)


def sample_inputs(split: Split, task: Task, size: int, batch_size: int, seed: int) -> np.ndarray:
    """Model-ready inputs of a stratified, seeded sample of a split (int8 calibration, SHAP).

    Returns:
        Up to `size` inputs.
    """
    rows = sample_rows(split, task.problem, size, seed)
    return split_inputs(split, task, batch_size, seed, rows)


def build_compiled_model(
    task: Task,
    dataset: Dataset,
    config: TrainConfig,
    strategy: tf.distribute.Strategy,
    metrics: bool = True,
) -> keras.Model:
    """Builds the task's model and compiles it with AdamW and the schedule, in the strategy's scope.

    Under `train.mixed_precision` the layers compute in 16 bits (see
    `precision_policy`); Keras wraps the optimizer in loss scaling for float16.

    Args:
        task: the task (its model config and data spec).
        dataset: sizes the learning-rate schedule.
        config: the train section.
        strategy: where the variables live.
        metrics: compile the task's metrics (refits that log nothing skip them).

    Returns:
        The compiled model.

    Raises:
        ConfigError: for `train.jit_compile: true` with several CPU replicas, or
            a `train.stop_at` key that training does not log.
    """
    replicas = strategy.num_replicas_in_sync
    check_jit_compile(config, strategy)
    check_stop_at(config, task)
    with strategy.scope(), dtype_policy(precision_policy(config, strategy)):
        model = task.build_model()
        optimizer = build_optimizer(config, steps_per_epoch(dataset, config, replicas))
        task.compile(model, optimizer, jit_compile=config.jit_compile, metrics=metrics)
    return model


def check_jit_compile(config: TrainConfig, strategy: tf.distribute.Strategy) -> None:
    """Refuses XLA where TensorFlow cannot compile it: several replicas on CPU devices.

    Raises:
        ConfigError: naming the limitation and the fix.
    """
    replicas = strategy.num_replicas_in_sync
    on_cpus = all("CPU" in d.upper() for d in replica_devices(strategy))
    if config.jit_compile and replicas > 1 and on_cpus:
        raise ConfigError(
            f"train.jit_compile: true cannot train {replicas} replicas on CPU devices: XLA does "
            "not compile the all-reduce between CPU replicas (TensorFlow b/194942685; with "
            "logical CPU devices it cannot reach the other devices' variables either). Set "
            "train.jit_compile to false or null, or train on GPUs."
        )


def check_stop_at(config: TrainConfig, task: Task) -> None:
    """Refuses a `train.stop_at` whose key the task's training does not log.

    Raises:
        ConfigError: for a key that is not logged, listing the ones that are.
    """
    target = config.target
    if target is None:
        return
    logged = ["loss", *(metric.name for metric in task.build_metrics())]
    keys = [*logged, *(f"val_{name}" for name in logged)]
    if target.metric not in keys:
        raise ConfigError(
            f"train.stop_at names '{target.metric}', which training does not log. Logged keys: "
            f"{', '.join(keys)}.{closest_hint(target.metric, keys)}"
        )


def first_reaching(history: list[dict[str, float]], target: StopAt | None) -> dict | None:
    """The `history.json` entry of the first epoch that reached `target`.

    Returns:
        The entry (its `epoch` and `seconds` say when), or None if no epoch
        reached it or there is no target.
    """
    if target is None:
        return None
    return next((entry for entry in history if target.reached(entry)), None)


def precision_policy(config: TrainConfig, strategy: tf.distribute.Strategy) -> str:
    """The Keras dtype policy a run's model is built with.

    Returns:
        `float32`, or under `train.mixed_precision` `mixed_float16` on GPUs
        (tensor cores; loss scaling keeps small gradients) and `mixed_bfloat16`
        elsewhere (TPUs and CPUs: bfloat16 has float32's range, so no scaling).
    """
    if not config.mixed_precision:
        return "float32"
    devices = replica_devices(strategy)
    return "mixed_float16" if any("GPU" in d.upper() for d in devices) else "mixed_bfloat16"


@contextlib.contextmanager
def dtype_policy(name: str):
    """Builds layers under the dtype policy `name`, restoring the previous one after.

    Keras reads the policy when a layer is created, so this scopes it to one
    model instead of leaving a process-wide setting behind.
    """
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(name)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def float32_copy(task: Task, model: keras.Model) -> keras.Model:
    """The trained model rebuilt in float32 outside any strategy, with the same weights.

    What evaluation, explanations and export use after mixed-precision or
    multi-worker training: a float32 model computes what a device computes,
    and it needs no cluster. Variables are float32 under mixed precision
    too, so the weights carry over exactly.

    Args:
        task: the task that built `model`.
        model: the trained model.

    Returns:
        An uncompiled float32 copy.
    """
    with tf.distribute.get_strategy().scope(), dtype_policy("float32"):
        copy = task.build_model()
    copy.set_weights(model.get_weights())
    return copy


def build_optimizer(config: TrainConfig, steps_per_epoch: int) -> keras.optimizers.Optimizer:
    """AdamW at the schedule's first learning rate (call inside `strategy.scope()`).

    The learning rate stays a plain variable: `LearningRateUpdater` (for `fit`)
    and the multi-worker loop set it once per step from `learning_rate_schedule`.
    A Keras `LearningRateSchedule` in the optimizer would be evaluated once per
    variable per step (AdamW's weight decay reads the rate for every variable),
    which cost 17-24% of a small CNN's throughput on CPU.

    Args:
        config: the train section.
        steps_per_epoch: optimizer steps per epoch at the global batch size.

    Returns:
        The optimizer.
    """
    schedule = learning_rate_schedule(config, steps_per_epoch)
    return keras.optimizers.AdamW(learning_rate=schedule(0), weight_decay=config.weight_decay)


@dataclasses.dataclass(frozen=True)
class WarmupCosine:
    """A linear warm-up from 0 to `peak`, then a cosine decay to 0 at `total_steps`.

    The same curve as `keras.optimizers.schedules.CosineDecay(0.0, total_steps
    - warmup_steps, warmup_target=peak, warmup_steps=warmup_steps)`, computed in
    Python once per step.

    Attributes:
        peak: the learning rate at the end of the warm-up.
        total_steps: optimizer steps of the whole schedule.
        warmup_steps: steps of the linear warm-up (0: none).
    """

    peak: float
    total_steps: int
    warmup_steps: int

    def __call__(self, step: int) -> float:
        """The learning rate of optimizer step `step` (0-based)."""
        if step < self.warmup_steps:
            return self.peak * step / self.warmup_steps
        decay_steps = max(self.total_steps - self.warmup_steps, 1)
        progress = min(step - self.warmup_steps, decay_steps) / decay_steps
        return self.peak * 0.5 * (1.0 + math.cos(math.pi * progress))


@dataclasses.dataclass(frozen=True)
class ConstantRate:
    """The same learning rate at every step."""

    rate: float

    def __call__(self, step: int) -> float:
        """The learning rate (whatever the step)."""
        return self.rate


def learning_rate_schedule(
    config: TrainConfig, steps_per_epoch: int
) -> WarmupCosine | ConstantRate:
    """The learning rate as a function of the optimizer step, per `train.schedule`.

    Args:
        config: the train section (`schedule`, `learning_rate`, `epochs`, `warmup_epochs`).
        steps_per_epoch: optimizer steps per epoch at the global batch size.

    Returns:
        `schedule(step) -> learning rate`.
    """
    if config.schedule == "constant":
        return ConstantRate(config.learning_rate)
    total = config.epochs * steps_per_epoch
    warmup = max(min(round(config.warmup_epochs * steps_per_epoch), total - 1), 0)
    return WarmupCosine(config.learning_rate, total, warmup)


class LearningRateUpdater(keras.callbacks.Callback):
    """Sets the optimizer's learning rate from the schedule before every training step.

    The step count is read from the optimizer once, at the first batch (after
    a backup was restored, so a resumed run continues its schedule), then
    counted here: reading `optimizer.iterations` every step would wait for the
    previous step to finish. It has no end-of-batch hook, so Keras keeps
    dispatching steps asynchronously.

    Args:
        schedule: `schedule(step) -> learning rate`.
    """

    def __init__(self, schedule):
        super().__init__()
        self.schedule = schedule
        self.step: int | None = None

    def on_train_begin(self, logs=None):
        self.step = None

    def on_train_batch_begin(self, batch, logs=None):
        if self.step is None:
            self.step = int(self.model.optimizer.iterations.numpy())
        # Assigns the rate variable (through a loss-scale wrapper to its inner optimizer).
        self.model.optimizer.learning_rate = self.schedule(self.step)
        self.step += 1


def history_until(path: Path, epoch: int) -> list[dict[str, float]]:
    """The epochs 1..`epoch` of a `history.json` (none if it does not exist).

    A resumed run keeps these: later entries were logged but never backed up.
    """
    previous = io.read_json(path) if path.is_file() else []
    return [entry for entry in previous if entry["epoch"] <= epoch]


class HistoryRecorder(keras.callbacks.Callback):
    """Writes the per-epoch logs to `history.json` atomically after every epoch.

    Each entry also holds `seconds`: the training wall time from the start of
    training to the end of that epoch (validation included), summed across
    resumes, so time-to-accuracy can be read off the history.

    On a resumed run it keeps the epochs before the resume point, so the
    learning curves cover the whole run, and drops any epoch that was logged
    but not backed up before the interruption.

    Args:
        path: the JSON file.
    """

    def __init__(self, path: Path):
        super().__init__()
        self.path = path
        self.epochs: list[dict[str, float]] = []
        self.clock: TrainingClock | None = None

    def on_epoch_begin(self, epoch, logs=None):
        # The first epoch this process runs is the resume point (epochs before it are in the
        # backup). Read here, not in on_train_begin: the backup callback comes after this one.
        if self.clock is None:
            self.epochs = history_until(self.path, epoch)
            self.clock = TrainingClock(self.epochs)

    def on_epoch_end(self, epoch, logs=None):
        entry = {"epoch": epoch + 1, **{k: float(v) for k, v in (logs or {}).items()}}
        entry["seconds"] = self.clock.seconds()
        self.epochs.append(entry)
        io.write_json(self.path, self.epochs)


class TrainingClock:
    """Training wall time summed across resumes: the `seconds` of `history.json`.

    Args:
        resumed: the history kept from before this process (empty on a fresh run).
    """

    def __init__(self, resumed: list[dict[str, float]]):
        self.offset = resumed[-1].get("seconds", 0.0) if resumed else 0.0
        self.started = time.perf_counter()

    def seconds(self) -> float:
        """Seconds of training so far, this process's and the resumed run's."""
        return round(self.offset + time.perf_counter() - self.started, 3)


def epoch_summary(logs: dict[str, float]) -> str:
    """An epoch's logged values in one line: `loss 0.2756, accuracy 0.9259, val_loss ...`."""
    return ", ".join(f"{name} {value:.4g}" for name, value in logs.items())


class EpochProgress(keras.callbacks.Callback):
    """Logs one line per epoch: its values, the training time so far and an estimate of
    the time left (until the last epoch; early stopping may end sooner).

    Args:
        epochs: the configured epochs.
    """

    def __init__(self, epochs: int):
        super().__init__()
        self.epochs = epochs
        self.progress: Progress | None = None
        self.first_epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        if self.progress is None:  # A resumed run starts at its backup's epoch.
            self.first_epoch = epoch
            self.progress = Progress("Training", self.epochs - epoch, logger, min_interval=0)

    def on_epoch_end(self, epoch, logs=None):
        detail = f"epoch {epoch + 1}/{self.epochs}: {epoch_summary(logs or {})}"
        self.progress.update(epoch + 1 - self.first_epoch, detail)


class StopAtTarget(keras.callbacks.Callback):
    """Stops training at the end of the first epoch whose logs reach `train.stop_at`.

    The model keeps that epoch's weights, the ones that reached the target: it
    must come after early stopping, whose end-of-training restore of the
    lowest-validation-loss weights it then undoes.

    Args:
        target: the parsed target.
    """

    def __init__(self, target: StopAt):
        super().__init__()
        self.target = target
        self.reached_weights: list[np.ndarray] | None = None

    def on_epoch_end(self, epoch, logs=None):
        if self.target.reached(logs or {}):
            print(self.target.stop_message(epoch + 1), flush=True)
            self.reached_weights = self.model.get_weights()
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self.reached_weights is not None:
            self.model.set_weights(self.reached_weights)


class StopOnNonFiniteLoss(keras.callbacks.Callback):
    """Stops at the first step whose loss is NaN or infinite and raises `TrainingDiverged`.

    It must come before the backup callback: it raises at the end of the
    epoch, before that epoch can be backed up. (Early-stopping and checkpoint
    callbacks ignore NaN.)

    Its per-step check is `async_safe`: Keras runs it off the training
    thread, so reading each step's loss does not make the next step wait for
    this one (a per-step sync that cost ~15% of a small model's throughput).
    The first bad step asks Keras to end the epoch; Keras waits for every
    step's check before `on_epoch_end`, which names the first bad step.

    Args:
        steps: steps per epoch, for the message.
    """

    async_safe = True

    def __init__(self, steps: int | None = None):
        super().__init__()
        self.steps = steps
        self.bad_steps: list[tuple[int, float]] = []
        self.lock = threading.Lock()

    def on_epoch_begin(self, epoch, logs=None):
        self.bad_steps = []

    def on_train_batch_end(self, batch, logs=None):
        # Keras logs the epoch's running mean: it turns non-finite at the first bad step.
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            with self.lock:
                self.bad_steps.append((batch + 1, float(loss)))
            self.model.stop_training = True

    def on_epoch_end(self, epoch, logs=None):
        if self.bad_steps:
            step, loss = min(self.bad_steps)
            raise TrainingDiverged(diverged_message(loss, epoch + 1, step, self.steps))
        val_loss = (logs or {}).get("val_loss")
        if val_loss is not None and not math.isfinite(float(val_loss)):
            raise TrainingDiverged(diverged_message(float(val_loss), epoch + 1, "validation", None))


class EpochBackup(keras.callbacks.BackupAndRestore):
    """Keras' `BackupAndRestore`, saving once per epoch, marked `async_safe`.

    Its per-step hook only saves when `save_freq` is a number of steps; at
    `save_freq="epoch"` it does nothing, so nothing stops Keras from running
    the per-step hooks off the training thread.
    """

    async_safe = True

    def __init__(self, backup_dir: str):
        # Keeps the current and the previous state, so a kill during a backup write still resumes.
        super().__init__(backup_dir, save_freq="epoch", double_checkpoint=True)


class EpochScalars(keras.callbacks.Callback):
    """TensorBoard scalars of every epoch's logs, laid out as Keras' TensorBoard callback lays
    them out (`train/epoch_loss`, `validation/epoch_accuracy`, ...).

    Keras' own callback has per-step hooks (they stop Keras from running
    per-step work off the training thread) even when it logs per epoch only.

    Args:
        log_dir: the TensorBoard log directory.
    """

    def __init__(self, log_dir: Path):
        super().__init__()
        self.log_dir = log_dir
        self.writers: dict[str, Any] = {}

    def on_train_begin(self, logs=None):
        self.writers = open_scalar_writers(self.log_dir)

    def on_epoch_end(self, epoch, logs=None):
        write_epoch_scalars(self.writers, logs or {}, epoch)

    def on_train_end(self, logs=None):
        for writer in self.writers.values():
            writer.close()


def open_scalar_writers(log_dir: Path) -> dict[str, Any]:
    """TensorBoard writers for the `train` and `validation` scalars."""
    return {split: tf.summary.create_file_writer(str(log_dir / split)) for split in _SPLITS}


def write_epoch_scalars(writers: dict[str, Any], logs: dict[str, float], epoch: int) -> None:
    """Writes one epoch's logs: `val_X` under `validation/epoch_X`, the rest under `train/`."""
    for name, value in logs.items():
        split, key = ("validation", name[4:]) if name.startswith("val_") else ("train", name)
        with writers[split].as_default():
            tf.summary.scalar(f"epoch_{key}", value, step=epoch)
    for writer in writers.values():
        writer.flush()


class BestModelCheckpoint(keras.callbacks.Callback):
    """Saves the whole model (`.keras`) whenever the monitored value improves, atomically.

    Args:
        path: where the best model goes.
        monitor: the log key to minimize.
    """

    def __init__(self, path: Path, monitor: str = "val_loss"):
        super().__init__()
        self.path = path
        self.monitor = monitor
        self.best = math.inf

    def on_epoch_end(self, epoch, logs=None):
        value = (logs or {}).get(self.monitor)
        if value is not None and value < self.best:
            self.best = float(value)
            with io.atomic_path(self.path) as tmp:
                self.model.save(tmp)


def early_stopping(config: TrainConfig, verbose: int = 1) -> list[keras.callbacks.Callback]:
    """Early stopping on validation loss, restoring the best weights; none if `patience` is null."""
    if config.patience is None:
        return []
    return [
        keras.callbacks.EarlyStopping(
            monitor="val_loss", patience=config.patience, restore_best_weights=True, verbose=verbose
        )
    ]


def make_training_dirs(run_dir: Path) -> None:
    """Creates the directories training writes into, before it starts.

    Keras' backup and TensorBoard writers create their own directories and
    fail deep inside `fit` with a traceback when a file is in the way; made
    here, such a failure is one error naming the file, before any training.

    Raises:
        ArtifactWriteError: naming what is in the way.
    """
    for directory in (RunDir.BACKUP, RunDir.LOGS, Path(RunDir.BEST_MODEL).parent):
        io.make_dir(run_dir / directory)


def build_callbacks(
    config: TrainConfig, run_dir: Path, steps: int
) -> list[keras.callbacks.Callback]:
    """The callbacks of every run: learning-rate schedule, divergence guard, backup, history,
    checkpoint, TensorBoard, early stopping, and the `train.stop_at` target.

    Args:
        config: the train section.
        run_dir: where backups, checkpoints, history and logs go.
        steps: optimizer steps per epoch.
    """
    target = config.target
    return [
        LearningRateUpdater(learning_rate_schedule(config, steps)),
        StopOnNonFiniteLoss(steps),
        # History before the backup: a resume drops history epochs past its backup, so a
        # failure between the two loses nothing.
        HistoryRecorder(RunDir(run_dir).history),
        EpochBackup(str(RunDir(run_dir).backup)),
        BestModelCheckpoint(RunDir(run_dir).best_model),
        EpochScalars(RunDir(run_dir).logs),
        # Keras' own line would print past the log; `fit_model` logs the restored epoch.
        *early_stopping(config, verbose=0),
        *([StopAtTarget(target)] if target else []),
        EpochProgress(config.epochs),
    ]


def fit(
    model: keras.Model,
    task: Task,
    dataset: Dataset,
    config: TrainConfig,
    replicas: int,
    seed: int,
    run_dir: Path,
) -> TrainResult:
    """Fits a compiled model on the train split, validating on the val split.

    Args:
        model: compiled inside the strategy's scope.
        task: provides preprocessing.
        dataset: the splits.
        config: the train section.
        replicas: replicas in sync (global batch = per-replica batch x replicas).
        seed: seeds the shuffle.
        run_dir: where backups, checkpoints, history and logs go.

    Returns:
        The training summary.
    """
    global_batch = config.batch_size * replicas
    train_data = make_input(dataset.train, task, global_batch, training=True, seed=seed)
    val_data = make_input(dataset.val, task, global_batch, training=False, seed=seed)
    make_training_dirs(run_dir)
    callbacks = build_callbacks(config, run_dir, steps_per_epoch(dataset, config, replicas))
    started = time.perf_counter()
    keras_history = model.fit(
        train_data,
        validation_data=val_data,
        epochs=config.epochs,
        callbacks=callbacks,
        shuffle=False,  # The pipeline shuffles; Keras' own shuffle applies to arrays only.
        # A progress bar on a terminal; `EpochProgress` logs a line per epoch everywhere.
        verbose=1 if sys.stdout.isatty() else 0,
    )
    seconds = time.perf_counter() - started
    history = next(c for c in callbacks if isinstance(c, HistoryRecorder)).epochs
    epochs_this_process = len(keras_history.epoch)
    stopper = next((c for c in callbacks if isinstance(c, keras.callbacks.EarlyStopping)), None)
    val_losses = [entry.get("val_loss", math.inf) for entry in history]
    if stopper is not None and stopper.best_weights is not None:
        # Keras counts the epochs of this process only (a resumed run starts again at 0).
        restored = len(history) - epochs_this_process + stopper.best_epoch + 1
        logger.info("Kept the weights of epoch %d (val_loss %.4g)", restored, stopper.best)
    return TrainResult(
        history=history,
        initial_epoch=len(history) - epochs_this_process,
        epochs_run=len(history),
        best_epoch=int(np.argmin(val_losses)) + 1 if history else None,
        stopped_early=bool(stopper and stopper.stopped_epoch > 0),
        train_seconds=seconds,
        examples_per_second=len(dataset.train) * epochs_this_process / seconds if seconds else 0.0,
    )


class RefitTrainer:
    """Trains the task's model again and again on other data (cross-validation folds),
    tracing its training functions once.

    A new Keras model traces its train and test steps on its first `fit`: on
    a small model that costs as much as several epochs (~5 s for the digits
    CNN on 2 CPU cores). Each refit here starts from the initial weights a
    freshly built model would have under the refit's seed, and from a fresh
    optimizer state, but keeps the one compiled model and so its traced
    functions. A refit whose weights differ in shape (a table whose folds
    one-hot a different set of categories) gets a model of its own.

    Each refit is what a quiet `fit` gives: the schedule, early stopping on
    its validation loss with its best weights restored; nothing is written.

    Args:
        config: the train section of the refits.
        strategy: where the variables live.
    """

    def __init__(self, config: TrainConfig, strategy: tf.distribute.Strategy):
        self.config = config
        self.strategy = strategy
        self.model: keras.Model | None = None

    def fit(self, task: Task, dataset: Dataset, seed: int) -> keras.Model:
        """Trains a model of `task` on `dataset` from the initial weights of `seed`.

        Returns:
            The trained model (the same object for refits of the same shapes:
            use its predictions before the next refit).
        """
        keras.utils.set_random_seed(seed)
        fresh = self._build(task, dataset)
        if self.model is None or not _same_shapes(self.model, fresh):
            self.model = fresh
        else:
            self.model.set_weights(fresh.get_weights())
            for variable in self.model.optimizer.variables:
                variable.assign(tf.zeros_like(variable))
        replicas = self.strategy.num_replicas_in_sync
        global_batch = self.config.batch_size * replicas
        schedule = learning_rate_schedule(
            self.config, steps_per_epoch(dataset, self.config, replicas)
        )
        self.model.fit(
            make_input(dataset.train, task, global_batch, training=True, seed=seed),
            validation_data=make_input(dataset.val, task, global_batch, training=False, seed=seed),
            epochs=self.config.epochs,
            callbacks=[LearningRateUpdater(schedule), *early_stopping(self.config, verbose=0)],
            shuffle=False,
            verbose=0,
        )
        return self.model

    def _build(self, task: Task, dataset: Dataset) -> keras.Model:
        # A model built from scratch: its initial weights are the refit's, and the first
        # one (or one of other shapes) is the model that trains.
        return build_compiled_model(task, dataset, self.config, self.strategy, metrics=False)


def _same_shapes(model: keras.Model, other: keras.Model) -> bool:
    shapes = [tuple(w.shape) for w in model.weights]
    return shapes == [tuple(w.shape) for w in other.weights]


def steps_per_epoch(dataset: Dataset, config: TrainConfig, replicas: int) -> int:
    """Optimizer steps per epoch at the global batch size."""
    return math.ceil(len(dataset.train) / (config.batch_size * replicas))
