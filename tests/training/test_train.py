"""Training options: mixed precision, XLA, and the multi-worker loop's backups."""

from __future__ import annotations

import dataclasses

import keras
import numpy as np
import pytest
import tensorflow as tf

from tasklab.core import io
from tasklab.core.config import ConfigError, TrainConfig, load_config
from tasklab.data import load_dataset
from tasklab.tasks import get_task
from tasklab.training.loop import Progress, read_backup, steps_per_worker_epoch, write_backup
from tasklab.training.strategy import StrategyInfo, split_cpu
from tasklab.training.train import (
    HistoryRecorder,
    LearningRateUpdater,
    RefitTrainer,
    StopAtTarget,
    build_compiled_model,
    build_optimizer,
    check_jit_compile,
    dtype_policy,
    early_stopping,
    learning_rate_schedule,
    make_input,
    precision_policy,
)
from tests.conftest import REPO


def digits_setup(*overrides):
    config = load_config(REPO / "configs" / "digits.yaml", list(overrides))
    task_cls = get_task(config.task)
    dataset = load_dataset(config.data, config.seed, task_cls.problem, task_cls.data_kind)
    return config, task_cls(config.model, dataset.spec), dataset


def test_precision_policy_by_device_and_scoped():
    cpu = tf.distribute.OneDeviceStrategy("/cpu:0")
    assert precision_policy(TrainConfig(), cpu) == "float32"
    assert precision_policy(TrainConfig(mixed_precision=True), cpu) == "mixed_bfloat16"
    with dtype_policy("mixed_bfloat16"):
        assert keras.config.dtype_policy().name == "mixed_bfloat16"
    assert keras.config.dtype_policy().name == "float32"


def test_jit_compile_matches_the_graph_numerics_on_cpu():
    """XLA reorders float arithmetic but must train to the same numbers closely."""
    # No dropout: XLA draws other random numbers, which is not what this compares.
    _, task, dataset = digits_setup("model.dropout=0")
    strategy = tf.distribute.OneDeviceStrategy("/cpu:0")
    data = make_input(dataset.train, task, 32, training=False, seed=0)
    results = {}
    for jit in (False, True):
        keras.utils.set_random_seed(0)
        train_config = TrainConfig(epochs=2, batch_size=32, jit_compile=jit)
        model = build_compiled_model(task, dataset, train_config, strategy)
        assert model.jit_compile is jit
        history = model.fit(data, epochs=2, verbose=0)
        results[jit] = (history.history["loss"], model.get_weights())
    np.testing.assert_allclose(results[True][0], results[False][0], rtol=1e-3)
    for with_xla, without in zip(results[True][1], results[False][1], strict=True):
        # Adam rescales tiny gradients, so near-zero weights drift most: ~1e-3 seen.
        np.testing.assert_allclose(with_xla, without, rtol=1e-2, atol=1e-2)


def test_jit_compile_with_several_cpu_replicas_is_refused():
    strategy = tf.distribute.MirroredStrategy(
        [d.name for d in split_cpu(2)], cross_device_ops=tf.distribute.ReductionToOneDevice()
    )
    check_jit_compile(TrainConfig(jit_compile=None), strategy)  # Keras decides: off on CPUs.
    with pytest.raises(ConfigError, match="b/194942685"):
        check_jit_compile(TrainConfig(jit_compile=True), strategy)


def test_steps_per_worker_epoch_fits_the_smallest_shard():
    two = StrategyInfo("multi_worker", replicas=2, devices=("cpu",), workers=2, worker_index=0)
    # 101 examples: shards of 51 and 50; 50 // 8 = 6 full batches on both.
    assert steps_per_worker_epoch(101, 8, two) == 6
    with pytest.raises(ConfigError, match="smaller than one global batch"):
        steps_per_worker_epoch(10, 8, two)


def test_backup_round_trip_ignores_an_unfinished_one(tmp_path):
    state = [keras.Variable(np.arange(6.0).reshape(2, 3)), keras.Variable(np.int64(7))]
    best = [np.ones((2, 3), dtype=np.float32)]
    write_backup(tmp_path, Progress(epoch=1), state, None)
    state[0].assign(state[0] * 2)
    write_backup(tmp_path, Progress(epoch=2, best_val_loss=0.5, best_epoch=2), state, best)
    (tmp_path / ".epoch-0003.tmp").mkdir()  # A backup killed while it was written.
    assert sorted(p.name for p in tmp_path.iterdir()) == [".epoch-0003.tmp", "epoch-0002"]

    progress, values, restored_best = read_backup(tmp_path, state)
    assert progress == Progress(epoch=2, best_val_loss=0.5, best_epoch=2)
    np.testing.assert_array_equal(values[0], np.arange(6.0).reshape(2, 3) * 2)
    assert values[1] == 7 and values[1].dtype == np.int64
    np.testing.assert_array_equal(restored_best[0], best[0])
    with pytest.raises(ValueError, match="does not fit this model"):
        read_backup(tmp_path, [keras.Variable(np.zeros(3)), state[1]])
    assert read_backup(tmp_path / "none", state) is None


def test_a_mixed_precision_run_evaluates_and_saves_float32(tmp_path):
    from tasklab.pipelines.run import run
    from tests.pipelines.test_run import digits_config

    result = run(digits_config("train.mixed_precision=true"), runs_dir=tmp_path)
    assert result.metrics.precision == "mixed_bfloat16"
    assert result.metrics.test["accuracy"] > 0.8
    assert io.read_json(result.run_dir / "manifest.json")["precision"] == "mixed_bfloat16"
    saved = keras.models.load_model(result.run_dir / "model.keras", safe_mode=True)
    assert saved.dtype_policy.name == "float32"
    assert {layer.dtype_policy.name for layer in saved.layers} == {"float32"}


def test_stop_at_naming_a_key_training_does_not_log_is_refused_before_training():
    config, task, dataset = digits_setup("train.stop_at=val_acuracy>=0.9")
    strategy = tf.distribute.OneDeviceStrategy("/cpu:0")
    with pytest.raises(ConfigError, match=r"val_acuracy.*Did you mean 'val_accuracy'"):
        build_compiled_model(task, dataset, config.train, strategy)


def test_stopping_at_the_target_keeps_its_weights_not_the_best_val_loss_ones():
    """Early stopping restores the lowest-val-loss weights at the end of training; a run that
    stopped at its target keeps the weights that reached it."""
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    config = TrainConfig(patience=5, stop_at="val_accuracy >= 0.9")
    callbacks = keras.callbacks.CallbackList(
        [*early_stopping(config, verbose=0), StopAtTarget(config.target)],
        model=model,
    )
    callbacks.on_train_begin()
    best = model.get_weights()
    callbacks.on_epoch_end(0, {"val_loss": 0.5, "val_accuracy": 0.8})  # the best val loss
    reached = [w + 1.0 for w in best]
    model.set_weights(reached)
    callbacks.on_epoch_end(1, {"val_loss": 0.7, "val_accuracy": 0.92})  # reaches the target
    assert model.stop_training
    callbacks.on_train_end()
    for kept, expected in zip(model.get_weights(), reached, strict=True):
        np.testing.assert_array_equal(kept, expected)


def test_history_seconds_grow_and_continue_across_a_resume(tmp_path):
    path = tmp_path / "history.json"
    first = HistoryRecorder(path)
    for epoch in range(2):
        first.on_epoch_begin(epoch)
        first.on_epoch_end(epoch, {"loss": 1.0})
    seconds = [entry["seconds"] for entry in io.read_json(path)]
    assert 0 <= seconds[0] <= seconds[1] < 60
    # An earlier process trained 2 epochs in 100 s and 200 s; it was backed up after epoch 1.
    io.write_json(path, [{"epoch": 1, "seconds": 100.0}, {"epoch": 2, "seconds": 200.0}])
    resumed = HistoryRecorder(path)
    resumed.on_epoch_begin(1)
    resumed.on_epoch_end(1, {"loss": 0.5})
    history = io.read_json(path)
    assert [entry["epoch"] for entry in history] == [1, 2]
    assert 100.0 <= history[1]["seconds"] < 160.0  # Epoch 1's time counted, not restarted.


def test_the_cosine_schedule_is_keras_cosine_decay_with_warmup():
    """The per-step Python schedule follows Keras' own CosineDecay (warm-up included) at every
    step, past the end too."""
    config = TrainConfig(epochs=7, learning_rate=3e-3, warmup_epochs=1.5)
    steps_per_epoch = 11
    schedule = learning_rate_schedule(config, steps_per_epoch)
    total, warmup = 7 * 11, round(1.5 * 11)
    reference = keras.optimizers.schedules.CosineDecay(
        0.0, total - warmup, warmup_target=3e-3, warmup_steps=warmup
    )
    steps = np.arange(total + 5)
    expected = np.array([float(reference(step)) for step in steps])
    np.testing.assert_allclose([schedule(int(step)) for step in steps], expected, atol=1e-9)
    constant = learning_rate_schedule(TrainConfig(schedule="constant", learning_rate=0.1), 5)
    assert {constant(step) for step in range(20)} == {0.1}


def test_fit_sets_the_scheduled_rate_before_every_step_and_resumes_the_count():
    """The updater assigns schedule(step) before each step, starting from the optimizer's own
    step count (a resumed run continues its schedule), and leaves a plain float rate that a
    saved model reloads with in plain Keras."""
    config = TrainConfig(epochs=3, learning_rate=0.01, warmup_epochs=1.0)
    schedule = learning_rate_schedule(config, steps_per_epoch=4)
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer=build_optimizer(config, 4), loss="mse")

    class Recorder(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.rates = []

        def on_train_batch_end(self, batch, logs=None):
            self.rates.append(float(self.model.optimizer.learning_rate.numpy()))

    x, y = np.ones((16, 2), np.float32), np.ones((16, 1), np.float32)

    def rates_of_a_fit(epochs: int) -> list[float]:
        recorder = Recorder()
        callbacks = [LearningRateUpdater(schedule), recorder]
        model.fit(x, y, batch_size=4, epochs=epochs, callbacks=callbacks, verbose=0, shuffle=False)
        return recorder.rates

    np.testing.assert_allclose(rates_of_a_fit(2), [schedule(step) for step in range(8)], rtol=1e-6)
    # A resume: the optimizer has taken 8 steps, and the schedule goes on from there.
    resumed = rates_of_a_fit(1)
    np.testing.assert_allclose(resumed, [schedule(step) for step in range(8, 12)], rtol=1e-6)
    assert isinstance(model.optimizer.get_config()["learning_rate"], float)


def test_refits_reuse_one_compiled_model_from_fresh_initial_weights():
    """A refit starts from the initial weights a new model gets under its seed and from a
    zeroed optimizer, but keeps the compiled model, so its training step is traced once."""
    config, task, dataset = digits_setup("train.epochs=1", "train.patience=null")
    strategy = tf.distribute.get_strategy()
    trainer = RefitTrainer(config.train, strategy)
    first = trainer.fit(task, dataset, seed=7)
    train_function = first.train_function

    class InitialWeights(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.weights = self.model.get_weights()
            self.iterations = int(self.model.optimizer.iterations.numpy())

    seen = InitialWeights()
    original_fit = keras.Model.fit

    def fit_watching(model, *args, callbacks=(), **kwargs):
        return original_fit(model, *args, callbacks=[*callbacks, seen], **kwargs)

    keras.Model.fit = fit_watching
    try:
        second = trainer.fit(task, dataset, seed=8)
    finally:
        keras.Model.fit = original_fit
    assert second is first and second.train_function is train_function
    assert seen.iterations == 0
    keras.utils.set_random_seed(8)
    fresh = build_compiled_model(task, dataset, config.train, strategy, metrics=False)
    for got, expected in zip(seen.weights, fresh.get_weights(), strict=True):
        np.testing.assert_array_equal(got, expected)


def test_a_refit_of_other_weight_shapes_gets_its_own_model():
    config, task, dataset = digits_setup("train.epochs=1")
    trainer = RefitTrainer(config.train, tf.distribute.get_strategy())
    first = trainer.fit(task, dataset, seed=1)
    wider = type(task)(
        dataclasses.replace(
            task.model_config, options=dataclasses.replace(task.model_config.options, filters=8)
        ),
        dataset.spec,
    )
    assert trainer.fit(wider, dataset, seed=1) is not first
