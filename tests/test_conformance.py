"""The conformance check every registered task passes, with every model it registers.

Modelled on keras-hub's `run_task_test`: build, fit one epoch from arrays and
from tf.data, predict, survive a `.keras` round trip with `safe_mode=True`, and
convert to LiteRT with builtin ops only, agreeing with Keras in the interpreter.
A new task gets this for free once it adds its tiny data to `TINY_DATA`.
"""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from tasklab.core.config import AudioConfig, TokenizerConfig, parse_model_config
from tasklab.data.audio import audio_spec
from tasklab.data.base import DataSpec
from tasklab.data.text import fit_text_schema
from tasklab.edge.litert import LiteRTModel
from tasklab.export.convert import check_builtin_ops, convert, export_saved_model
from tasklab.tasks import TASKS, get_task
from tasklab.training.train import dtype_policy, float32_copy
from tests.conftest import tabular_spec


def _tiny_images(rng: np.random.Generator) -> tuple[DataSpec, np.ndarray, np.ndarray]:
    spec = DataSpec(kind="image", class_names=("a", "b", "c"), example_shape=(12, 12, 1))
    x = rng.integers(0, 256, size=(12, 12, 12, 1), dtype=np.uint8)
    return spec, x, np.arange(12) % 3


def _tiny_table(rng: np.random.Generator, regression: bool):
    x = rng.normal(size=(12, 5)).astype(np.float32)
    y = (10 + 3 * x[:, 0]).astype(np.float32) if regression else np.arange(12) % 2
    if regression:
        return tabular_spec(x, class_names=(), target_mean=10.0, target_std=3.0), x, y
    return tabular_spec(x), x, y


def _tiny_texts(rng: np.random.Generator):
    words = np.array(["red", "green", "blue", "cyan", "lime", "navy", "rose", "teal"])
    texts = np.array([" ".join(rng.choice(words, size=rng.integers(1, 9))) for _ in range(12)])
    config = TokenizerConfig(max_tokens=20, sequence_length=10)
    schema = fit_text_schema(tf.data.Dataset.from_tensor_slices(texts), config)
    spec = DataSpec(kind="text", class_names=("a", "b", "c"), example_shape=(10,), schema=schema)
    return spec, texts, np.arange(12) % 3


def _tiny_clips(rng: np.random.Generator):
    # Half a second at 8 kHz keeps the front end small; int16 clips as the built-in holds them.
    spec = audio_spec(("a", "b", "c"), AudioConfig(sample_rate=8000, clip_seconds=0.5))
    x = (rng.normal(0, 3000, size=(12, 4000))).astype(np.int16)
    return spec, x, np.arange(12) % 3


def _tiny_scenes(rng: np.random.Generator):
    # Masks with a few unlabelled pixels (255), as VOC marks object borders.
    spec = DataSpec(kind="segmentation", class_names=("bg", "a", "b"), example_shape=(16, 16, 3))
    x = rng.integers(0, 256, size=(12, 16, 16, 3), dtype=np.uint8)
    masks = rng.integers(0, 3, size=(12, 16, 16)).astype(np.uint8)
    masks[:, 0, :4] = 255
    return spec, x, masks


TINY_DATA = {
    "image_classification": _tiny_images,
    "tabular_classification": lambda rng: _tiny_table(rng, regression=False),
    "tabular_regression": lambda rng: _tiny_table(rng, regression=True),
    "text_classification": _tiny_texts,
    "keyword_spotting": _tiny_clips,
    "semantic_segmentation": _tiny_scenes,
}

EDGE_INPUT_KINDS = {"segmentation": "image"}
TASK_MODELS = [(task, model) for task in TASKS.names() for model in get_task(task).models.names()]


def tiny_task(task_name: str, model_name: str):
    """A task with its tiny data: spec, task, preprocessed dataset, inputs, labels, raw labels."""
    spec, raw_x, y = TINY_DATA[task_name](np.random.default_rng(0))
    task = get_task(task_name)(parse_model_config(task_name, {"name": model_name}), spec)
    examples = tf.data.Dataset.from_tensor_slices((raw_x, y)).map(task.preprocess)
    x = np.stack([features.numpy() for features, _ in examples])
    labels = np.stack([label.numpy() for _, label in examples])
    return spec, task, examples, x, labels, y


def test_every_task_has_tiny_data():
    assert set(TASKS.names()) == set(TINY_DATA)


@pytest.mark.parametrize(("task_name", "model_name"), TASK_MODELS)
def test_task_conformance(task_name, model_name, tmp_path):
    spec, task, examples, x, labels, y = tiny_task(task_name, model_name)

    keras.utils.set_random_seed(0)
    model = task.build_model()
    task.compile(model, keras.optimizers.Adam(1e-3))
    assert model.count_params() > 0

    array_history = model.fit(x, labels, epochs=1, batch_size=4, verbose=0)
    dataset_history = model.fit(examples.batch(4), epochs=1, verbose=0, shuffle=False)
    for history in (array_history, dataset_history):
        assert np.isfinite(history.history["loss"][0])

    outputs = model.predict(x, verbose=0)
    per_pixel = task.problem.output_kind == "pixel_probabilities"
    if task.problem.has_classes:
        # One probability per class: per example, or per pixel at the input's size.
        where = x.shape[1:3] if per_pixel else ()
        assert outputs.shape == (len(x), *where, spec.num_classes)
        np.testing.assert_allclose(outputs.sum(axis=-1), 1.0, atol=1e-5)
    else:
        assert outputs.shape == (len(x), 1)

    path = tmp_path / "model.keras"
    model.save(path)
    restored = keras.models.load_model(path, safe_mode=True)
    np.testing.assert_allclose(restored.predict(x, verbose=0), outputs, rtol=1e-5, atol=1e-5)

    # Masks are compared at the model's size (the task resizes them as it resizes images).
    evaluation = task.evaluate(labels if per_pixel else y, outputs, seed=0)
    assert evaluation.primary in evaluation.metrics and evaluation.primary in evaluation.intervals

    # Every model must reach a device: builtin LiteRT ops only, same outputs.
    content = convert(export_saved_model(model, tmp_path / "saved_model"), "float32")
    assert check_builtin_ops(content, "float32", allow_flex=False)
    np.testing.assert_allclose(LiteRTModel(content).predict(x), outputs, rtol=1e-4, atol=1e-4)
    described = task.edge_input()
    # A device reads what the data is made of: a segmentation model's input is an image file.
    assert described["kind"] == EDGE_INPUT_KINDS.get(spec.kind, spec.kind)
    assert json.loads(json.dumps(described)) == described


@pytest.mark.parametrize(("task_name", "model_name"), TASK_MODELS)
def test_mixed_precision_conformance(task_name, model_name):
    """Every model trains under mixed_bfloat16 with float32 outputs, and its float32 copy
    (what evaluation and export use) computes the same outputs to bfloat16's precision."""
    _, task, _, x, labels, y = tiny_task(task_name, model_name)

    keras.utils.set_random_seed(0)
    with dtype_policy("mixed_bfloat16"):
        model = task.build_model()
    assert model.dtype_policy.name == "mixed_bfloat16"
    assert keras.config.dtype_policy().name == "float32"  # Scoped to that model.
    task.compile(model, keras.optimizers.Adam(1e-3))
    history = model.fit(x, labels, epochs=2, batch_size=4, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    computes = {layer.dtype_policy.compute_dtype for layer in model._flatten_layers()}
    assert "bfloat16" in computes  # It did compute in 16 bits somewhere.

    mixed_outputs = model.predict(x, verbose=0)
    assert mixed_outputs.dtype == np.float32
    copy = float32_copy(task, model)
    assert copy.dtype_policy.name == "float32"
    # bfloat16 keeps 8 bits of mantissa: outputs agree to a few parts in a hundred.
    scale = 0.05 if task.problem.has_classes else 0.05 * np.abs(y).max()
    np.testing.assert_allclose(copy.predict(x, verbose=0), mixed_outputs, atol=scale)
