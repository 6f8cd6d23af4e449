from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from tasklab.core.config import ConfigError, parse_model_config
from tasklab.data.base import DataSpec, array_split
from tasklab.tasks import get_task
from tasklab.training.train import make_input

GRAY_8 = DataSpec(kind="image", class_names=("a", "b"), example_shape=(8, 8, 1))


def make_task(spec=GRAY_8, **options):
    return get_task("image_classification")(
        parse_model_config("image_classification", options), spec
    )


def test_small_cnn_sizes_its_blocks_to_the_image():
    def pools(size):
        task = make_task(DataSpec("image", ("a", "b"), (size, size, 3)))
        model = task.build_model()
        return sum(isinstance(layer, keras.layers.MaxPooling2D) for layer in model.layers)

    assert (pools(8), pools(28), pools(64), pools(224)) == (2, 3, 4, 4)


def test_preprocess_resizes_to_the_configured_size_and_keeps_pixel_range():
    task = make_task(image_size=[16, 12])
    image = tf.constant(np.full((8, 8, 1), 255, np.uint8))
    x, y = task.preprocess(image, tf.constant(1, tf.int64))
    assert x.shape == (16, 12, 1) and x.dtype == tf.float32 and y.dtype == tf.int32
    np.testing.assert_allclose(x.numpy(), 255.0)
    unchanged, _ = make_task().preprocess(image, tf.constant(0, tf.int64))
    assert unchanged.shape == (8, 8, 1)


def test_augmentation_applies_to_training_batches_only_never_inside_the_model():
    keras.utils.set_random_seed(0)
    spec = DataSpec("image", ("a", "b"), (16, 16, 1))
    task = make_task(spec)
    model = task.build_model()
    # No random layers inside: a plain model(x) and an exported model are deterministic.
    assert not [layer for layer in model.layers if layer.name.startswith("random_")]
    x = np.random.default_rng(0).uniform(0, 255, (4, 16, 16, 1)).astype("float32")
    np.testing.assert_array_equal(model(x), model(x))

    labels = np.zeros(4, np.int64)
    split = array_split(x.astype(np.uint8), labels, np.arange(4))
    train_batch, _ = next(iter(make_input(split, task, 4, training=True, seed=0)))
    eval_batch, _ = next(iter(make_input(split, task, 4, training=False, seed=0)))
    np.testing.assert_array_equal(
        np.sort(eval_batch.numpy().ravel()), np.sort(x.astype(np.uint8).ravel())
    )
    assert not np.allclose(
        np.sort(train_batch.numpy(), axis=None), np.sort(eval_batch.numpy(), axis=None)
    )

    plain = make_task(spec, augment=False)
    unchanged, _ = plain.augment_batch(tf.constant(x), tf.constant(labels))
    np.testing.assert_array_equal(unchanged, x)


def test_mobilenet_repeats_gray_channels_and_loads_local_weights(tmp_path):
    keras.utils.set_random_seed(0)
    model = make_task(name="mobilenet_v3_small", augment=False).build_model()
    assert model.input_shape == (None, 32, 32, 1)  # Raised to MobileNet's minimum size.
    backbone = next(layer for layer in model.layers if isinstance(layer, keras.Model))
    weights_file = tmp_path / "backbone.weights.h5"
    backbone.save_weights(weights_file)

    keras.utils.set_random_seed(1)
    reloaded = make_task(
        name="mobilenet_v3_small", augment=False, weights=str(weights_file)
    ).build_model()
    reloaded_backbone = next(layer for layer in reloaded.layers if isinstance(layer, keras.Model))
    for saved, loaded in zip(backbone.weights, reloaded_backbone.weights, strict=True):
        np.testing.assert_array_equal(saved.numpy(), loaded.numpy())


def test_task_refuses_other_kinds_of_data_and_unsized_images():
    with pytest.raises(ConfigError, match="needs image data, but the dataset holds text data"):
        make_task(DataSpec("text", ("a", "b"), ()))
    with pytest.raises(ConfigError, match=r"set model.image_size"):
        make_task(DataSpec("image", ("a", "b"), (None, None, 3))).build_model()
