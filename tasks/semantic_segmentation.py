"""Semantic segmentation: an image in, a class per pixel out.

The models (`tasks.segmentation_models`) take uint8-range float pixels, as the
image classifiers do, and output per-pixel class probabilities at their input
size. Images are resized bilinearly to that size and masks with nearest
neighbour (a class index is never blended); augmentation moves an image and
its mask together: both are stacked into one tensor before the random
geometric layers, which therefore draw one transform for both.

An explanation is about a region: for each explained image, the pixels the
model assigns to its most frequent foreground class. The attribution methods
explain the mean probability of that class over that region (`RegionScores`),
so Grad-CAM and Integrated Gradients answer "what made the model paint this
region this class".
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
import tensorflow as tf
from keras import layers

from tasklab.core.problems import SEGMENTATION
from tasklab.core.segmentation_metrics import IGNORE
from tasklab.data.base import Split
from tasklab.tasks.base import ExplanationSubject, Task, register_task
from tasklab.tasks.image_classification import image_edge_input
from tasklab.tasks.segmentation_models import SEGMENTATION_MODELS, segmentation_size

# The layer Grad-CAM reads per model: the deepest, most semantic features, after their ReLU
# (U-Net: its bottom block; DeepLab: the fused atrous pyramid), as Grad-CAM reads a
# classifier's last block. The last convolution at the top level, Grad-CAM's own default, is
# the 1x1 classifier, whose "activations" are the logits. On the built-in scenes the U-Net's
# bottom block gave the steepest deletion curve (area 0.12, against 0.22 for the last up block
# and a failed check, 0.29, for that block's convolution before its normalization).
GRADCAM_LAYERS = {"unet": "bottom_relu2", "deeplab": "aspp_fuse_relu"}
MAX_TRANSLATION = 0.1  # Of the image's height and width, in training augmentation.


@keras.saving.register_keras_serializable(package="tasklab")
class RegionScores(layers.Layer):
    """Per explained image and class, the class's mean probability over the image's region.

    Built for a fixed set of explained images: `regions[e, :, :, k]` is 1 on
    the pixels image `e` was predicted as class `k`. Given per-pixel
    probabilities of a batch of any images, it outputs `(batch, images * classes)`:
    entry `e * classes + k` is the mean of class `k`'s probability over
    region `(e, k)` (0 for an empty region). The explain stage scores each row
    made from image `e` (a path point, a noisy copy, a deletion step) by the
    entry of `e` and its target class, so the region stays the one explained.

    Args:
        regions: `(images, height, width, classes)` 0/1 masks.
    """

    def __init__(self, regions: Any, **kwargs):
        super().__init__(**kwargs)
        self.regions = np.asarray(regions, dtype=np.float32)

    def call(self, probabilities: tf.Tensor) -> tf.Tensor:
        regions = tf.constant(self.regions)
        area = tf.maximum(tf.reduce_sum(regions, axis=(1, 2)), 1.0)  # (images, classes)
        sums = tf.einsum("bhwk,ehwk->bek", tf.cast(probabilities, tf.float32), regions)
        means = sums / area[None]
        return tf.reshape(means, (-1, self.regions.shape[0] * self.regions.shape[-1]))

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.regions.shape[0] * self.regions.shape[-1])

    def get_config(self) -> dict[str, Any]:
        # The regions travel in the config so that `clone_model` (the randomization check)
        # rebuilds the layer; it is never saved to a file.
        return {**super().get_config(), "regions": self.regions.tolist()}


@keras.saving.register_keras_serializable(package="tasklab")
class CrossEntropyDice(keras.losses.Loss):
    """Per-pixel cross-entropy plus a weighted soft Dice loss, both skipping unlabelled pixels.

    The Dice term is `1 - mean over classes of (2 |P.T| + 1) / (|P| + |T| + 1)`
    per image (Milletari et al., 2016), P the predicted probabilities and T the
    one-hot truth over the labelled pixels; the +1 keeps a class absent from
    both at a Dice of 1.

    Args:
        classes: the number of classes.
        dice_weight: the Dice term's weight.
        ignore_class: the label of unlabelled pixels.
    """

    def __init__(self, classes: int, dice_weight: float, ignore_class: int = IGNORE, **kwargs):
        kwargs.setdefault("name", "cross_entropy_dice")
        super().__init__(**kwargs)
        self.classes, self.dice_weight, self.ignore_class = classes, dice_weight, ignore_class

    def call(self, y_true, y_pred):
        y_true = keras.ops.cast(y_true, "int32")
        labelled = keras.ops.cast(keras.ops.not_equal(y_true, self.ignore_class), y_pred.dtype)
        safe = keras.ops.where(keras.ops.equal(y_true, self.ignore_class), 0, y_true)
        pixels = keras.ops.maximum(keras.ops.sum(labelled, axis=(1, 2)), 1.0)
        entropy = keras.losses.sparse_categorical_crossentropy(safe, y_pred) * labelled
        cross_entropy = keras.ops.sum(entropy, axis=(1, 2)) / pixels
        truth = keras.ops.one_hot(safe, self.classes, dtype=y_pred.dtype) * labelled[..., None]
        predicted = y_pred * labelled[..., None]
        overlap = keras.ops.sum(predicted * truth, axis=(1, 2))
        sizes = keras.ops.sum(predicted, axis=(1, 2)) + keras.ops.sum(truth, axis=(1, 2))
        dice = keras.ops.mean((2 * overlap + 1) / (sizes + 1), axis=-1)
        return cross_entropy + self.dice_weight * (1 - dice)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "classes": self.classes,
            "dice_weight": self.dice_weight,
            "ignore_class": self.ignore_class,
        }


def region_subject(model: keras.Model, inputs: np.ndarray, fill: np.ndarray, layer: str | None):
    """The model scored by `RegionScores` over each input's predicted region of its target class.

    Args:
        model: a segmentation model (per-pixel probabilities).
        inputs: the explained images, model-ready.
        fill: the "absent" image.
        layer: the Grad-CAM layer.

    Returns:
        The `ExplanationSubject`: a flat functional model (its layers at the top
        level, for Grad-CAM) and, per image `e` with target class `t`, the
        target `e * classes + t`.
    """
    outputs = np.asarray(model.predict(inputs, verbose=0))
    explained = SEGMENTATION.explained(outputs)
    classes = outputs.shape[-1]
    predicted = np.asarray(explained.predicted)
    regions = (predicted[..., None] == np.arange(classes)).astype(np.float32)
    scores = RegionScores(regions, name="region_scores")(model.outputs[0])
    wrapped = keras.Model(model.input, scores, name=f"{model.name}_regions")
    targets = np.arange(len(inputs)) * classes + np.asarray(explained.targets, dtype=int)
    return ExplanationSubject(wrapped, inputs, fill, targets=targets, gradcam_layer=layer)


@register_task
class SemanticSegmentation(Task):
    """Assigns every pixel of an image one of the dataset's classes."""

    name = "semantic_segmentation"
    problem = SEGMENTATION
    data_kind = "segmentation"
    models = SEGMENTATION_MODELS
    default_model = "unet"
    explain_input = "pixel_regions"
    explain_methods = ("grad_cam", "integrated_gradients")
    explain_examples = 8
    default_baselines = ("xgboost", "dummy")

    def __init__(self, model, spec):
        super().__init__(model, spec)
        options = self.model_config.options
        augment = []
        if options.flip:
            augment.append(layers.RandomFlip("horizontal"))
        if options.augment:
            # Nearest neighbour and reflection: a shifted mask keeps whole class indices, and
            # no pixel is filled with a value that is no class.
            augment.append(
                layers.RandomTranslation(
                    MAX_TRANSLATION, MAX_TRANSLATION, fill_mode="reflect", interpolation="nearest"
                )
            )
        self._augmenter = keras.Sequential(augment, name="augmentation") if augment else None

    def build_losses(self) -> keras.losses.Loss:
        """Cross-entropy skipping unlabelled pixels, plus `model.dice_loss` times a soft Dice."""
        weight = self.model_config.options.dice_loss
        if weight == 0:
            return super().build_losses()
        return CrossEntropyDice(len(self.spec.class_names), weight)

    def input_size(self) -> tuple[int, int]:
        """The `(height, width)` images and masks are resized to (the model's input)."""
        return segmentation_size(self.model_config.options, self.spec)

    def preprocess(self, x: tf.Tensor, y: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        """Float32 pixels (0..255 kept) bilinearly, and the mask by nearest neighbour, to size."""
        image = tf.cast(x, tf.float32)
        mask = tf.cast(y, tf.int32)
        size = self.input_size()
        if tuple(self.spec.example_shape[:2]) != size or not image.shape[:2].is_fully_defined():
            image = tf.image.resize(image, size)
            mask = tf.image.resize(mask[..., None], size, method="nearest")[..., 0]
        return image, mask

    def augment_batch(self, x: tf.Tensor, y: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        """One random flip and shift per image, applied to the image and its mask alike."""
        if self._augmenter is None:
            return x, y
        stacked = tf.concat([x, tf.cast(y[..., None], x.dtype)], axis=-1)
        moved = self._augmenter(stacked, training=True)
        return moved[..., :-1], tf.cast(tf.round(moved[..., -1]), y.dtype)

    def split_labels(self, split: Split) -> np.ndarray:
        """The split's masks at the model's size (resized as `preprocess` resizes them)."""
        if tuple(self.spec.example_shape[:2]) == self.input_size():
            return split.labels
        masks = split.make_dataset().map(self.preprocess).map(lambda x, y: y).batch(256)
        return np.concatenate(list(masks.as_numpy_iterator())).astype(np.int64)

    def baseline_features(self, split: Split) -> np.ndarray:
        """The split's images at the model's size, `(images, height, width, channels)` 0..255:
        the pixel baselines compute their filter bank on them."""
        images = split.make_dataset().map(self.preprocess).map(lambda x, y: x).batch(256)
        return np.concatenate(list(images.as_numpy_iterator()))

    def edge_input(self) -> dict[str, Any]:
        """An image file, decoded and converted as in training, resized bilinearly."""
        return image_edge_input(self.spec, *self.input_size())

    def reference_input(self) -> np.ndarray:
        """A black image at the model's input size."""
        return np.zeros((*self.input_size(), self.spec.example_shape[-1]), dtype=np.float32)

    def explanation_subject(self, model: keras.Model, inputs: np.ndarray) -> ExplanationSubject:
        """The mean probability of each image's target class over its predicted region."""
        return region_subject(
            model, inputs, self.reference_input(), GRADCAM_LAYERS.get(self.model_config.name)
        )
