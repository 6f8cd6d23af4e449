"""The semantic segmentation task: masks resized and augmented with their images, region scores."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from tasklab.core.config import parse_model_config
from tasklab.core.segmentation_metrics import IGNORE
from tasklab.data.base import DataSpec, array_split
from tasklab.tasks import get_task
from tasklab.tasks.semantic_segmentation import RegionScores, region_subject

CLASSES = ("background", "disc", "box")


def make_task(size=(16, 16), **options):
    spec = DataSpec(kind="segmentation", class_names=CLASSES, example_shape=(*size, 3))
    model = parse_model_config("semantic_segmentation", {"name": "unet", "filters": 4, **options})
    return get_task("semantic_segmentation")(model, spec)


def striped(count=4, size=(12, 12)):
    """Images whose red channel is 100 x the mask's class, so a moved mask can be checked."""
    rng = np.random.default_rng(0)
    masks = rng.integers(0, 3, size=(count, *size)).astype(np.uint8)
    images = np.zeros((count, *size, 3), dtype=np.uint8)
    images[..., 0] = masks * 100
    return images, masks


def test_masks_are_resized_by_nearest_neighbour_to_the_models_size():
    task = make_task(size=(12, 12))  # A depth-3 U-Net needs multiples of 8: 16 x 16.
    assert task.input_size() == (16, 16)
    images, masks = striped()
    masks[0, 0, 0] = IGNORE
    image, mask = task.preprocess(tf.constant(images[0]), tf.constant(masks[0]))
    assert image.shape == (16, 16, 3) and image.dtype == tf.float32
    assert mask.shape == (16, 16) and mask.dtype == tf.int32
    # Nearest neighbour: only values the mask holds, none blended.
    assert set(np.unique(mask.numpy())) <= {0, 1, 2, IGNORE}
    assert mask.numpy()[0, 0] == IGNORE


def test_split_labels_are_the_masks_at_the_models_size():
    task = make_task(size=(12, 12))
    images, masks = striped()
    split = array_split(images, masks, np.arange(len(masks)))
    labels = task.split_labels(split)
    assert labels.shape == (4, 16, 16)
    expected = [
        task.preprocess(tf.constant(x), tf.constant(y))[1].numpy()
        for x, y in zip(images, masks, strict=True)
    ]
    np.testing.assert_array_equal(labels, np.stack(expected))
    # At the native size, the stored masks themselves.
    native = make_task(size=(16, 16))
    images, masks = striped(size=(16, 16))
    split = array_split(images, masks, np.arange(len(masks)))
    assert native.split_labels(split) is split.labels


def test_augmentation_moves_each_mask_with_its_image():
    task = make_task(size=(16, 16))
    images, masks = striped(count=8, size=(16, 16))
    keras.utils.set_random_seed(3)
    x, y = task.augment_batch(tf.constant(images, tf.float32), tf.constant(masks, tf.int32))
    x, y = x.numpy(), y.numpy()
    assert y.dtype == np.int32 and set(np.unique(y)) <= {0, 1, 2}
    assert not np.array_equal(y, masks)  # It moved them...
    np.testing.assert_array_equal(x[..., 0], y * 100.0)  # ...together with their images.


def test_augmentation_off_leaves_batches_as_they_are():
    task = make_task(size=(16, 16), augment=False, flip=False)
    images, masks = striped(size=(16, 16))
    x, y = task.augment_batch(tf.constant(images, tf.float32), tf.constant(masks))
    np.testing.assert_array_equal(x.numpy(), images)
    np.testing.assert_array_equal(y.numpy(), masks)


def test_baseline_features_are_the_images_at_the_models_size():
    task = make_task(size=(12, 12))
    images, masks = striped()
    features = task.baseline_features(array_split(images, masks, np.arange(4)))
    assert features.shape == (4, 16, 16, 3) and features.dtype == np.float32


def test_region_scores_are_each_class_mean_probability_over_each_region():
    rng = np.random.default_rng(1)
    regions = np.zeros((2, 4, 4, 3), dtype=np.float32)
    regions[0, :2, :, 1] = 1  # Image 0: class 1 on the top half.
    regions[1, :, :1, 2] = 1  # Image 1: class 2 in the first column.
    probabilities = rng.dirichlet(np.ones(3), size=(5, 4, 4)).astype(np.float32)
    scores = RegionScores(regions)(probabilities).numpy()
    assert scores.shape == (5, 2 * 3)
    np.testing.assert_allclose(
        scores[:, 0 * 3 + 1], probabilities[:, :2, :, 1].mean(axis=(1, 2)), rtol=1e-6
    )
    np.testing.assert_allclose(
        scores[:, 1 * 3 + 2], probabilities[:, :, :1, 2].mean(axis=(1, 2)), rtol=1e-6
    )
    np.testing.assert_array_equal(scores[:, 0 * 3 + 0], 0.0)  # An empty region scores 0.


def test_the_region_subject_explains_each_images_predicted_region_and_clones():
    task = make_task(size=(16, 16))
    keras.utils.set_random_seed(0)
    model = task.build_model()
    images, _ = striped(count=3, size=(16, 16))
    inputs = images.astype(np.float32)
    subject = region_subject(model, inputs, task.reference_input(), "bottom_relu2")
    outputs = model.predict(inputs, verbose=0)
    predicted = outputs.argmax(axis=-1)
    scores = subject.model.predict(inputs, verbose=0)
    for image, target in enumerate(subject.targets):
        assert target // len(CLASSES) == image
        region = predicted[image] == target % len(CLASSES)
        assert region.any()
        expected = outputs[image, ..., target % len(CLASSES)][region].mean()
        assert scores[image, target] == pytest.approx(expected, rel=1e-5)
    # Grad-CAM reads a layer at the subject's top level; the randomization check clones it.
    assert subject.model.get_layer(subject.gradcam_layer) is model.get_layer("bottom_relu2")
    clone = keras.models.clone_model(subject.model)
    assert clone.predict(inputs, verbose=0).shape == scores.shape


@pytest.mark.parametrize("name", ["unet", "deeplab"])
def test_each_models_gradcam_layer_is_one_of_its_top_level_layers(name):
    from tasklab.tasks.semantic_segmentation import GRADCAM_LAYERS

    spec = DataSpec(kind="segmentation", class_names=CLASSES, example_shape=(32, 32, 3))
    task = get_task("semantic_segmentation")(
        parse_model_config("semantic_segmentation", {"name": name}), spec
    )
    subject = task.explanation_subject(task.build_model(), np.zeros((1, 32, 32, 3), np.float32))
    layer = subject.model.get_layer(GRADCAM_LAYERS[name])
    assert subject.gradcam_layer == GRADCAM_LAYERS[name] and len(layer.output.shape) == 4


def test_the_dice_term_is_added_to_a_cross_entropy_that_skips_unlabelled_pixels():
    from tasklab.tasks.semantic_segmentation import CrossEntropyDice

    rng = np.random.default_rng(0)
    truth = rng.integers(0, 3, size=(2, 4, 4))
    truth[0, 0] = IGNORE
    predicted = rng.dirichlet(np.ones(3), size=(2, 4, 4)).astype(np.float32)
    plain = keras.losses.SparseCategoricalCrossentropy(ignore_class=IGNORE)
    alone = CrossEntropyDice(3, dice_weight=0.0)(truth, predicted)
    # Per image over its labelled pixels, then over images: Keras' own ignore_class mean
    # weighs pixels alike across the batch, so compare image by image.
    for image in range(2):
        expected = plain(truth[image : image + 1], predicted[image : image + 1])
        got = CrossEntropyDice(3, 0.0)(truth[image : image + 1], predicted[image : image + 1])
        assert float(got) == pytest.approx(float(expected), rel=1e-5)
    labelled = truth != IGNORE
    dice = []
    for image in range(2):
        scores = []
        for c in range(3):
            p = predicted[image, ..., c] * labelled[image]
            t = (truth[image] == c) & labelled[image]
            scores.append((2 * (p * t).sum() + 1) / (p.sum() + t.sum() + 1))
        dice.append(1 - np.mean(scores))
    with_dice = CrossEntropyDice(3, dice_weight=0.5)(truth, predicted)
    assert float(with_dice) == pytest.approx(float(alone) + 0.5 * np.mean(dice), rel=1e-5)
    # A perfect prediction has no Dice loss left.
    perfect = np.eye(3, dtype=np.float32)[np.where(labelled, truth, 0)]
    assert float(CrossEntropyDice(3, 1.0)(truth, perfect)) == pytest.approx(0.0, abs=1e-5)


def test_the_task_trains_with_the_dice_loss_when_asked():
    from tasklab.tasks.semantic_segmentation import CrossEntropyDice

    assert not isinstance(make_task().build_losses(), CrossEntropyDice)
    task = make_task(dice_loss=0.5)
    loss = task.build_losses()
    assert isinstance(loss, CrossEntropyDice) and loss.dice_weight == 0.5
    model = task.build_model()
    task.compile(model, keras.optimizers.Adam(1e-3))
    images, masks = striped(count=4, size=(16, 16))
    history = model.fit(images.astype(np.float32), masks, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
