"""Image classification: images in, one probability per class out.

Models take uint8-range float pixels and rescale them inside, so the exported
model takes the same raw pixels a camera gives. Augmentation (Keras random
layers) is applied to training batches in the input pipeline, not inside the
model: random layers default to `training=True` when a model is called or
exported without a training flag, which would put random ops in the exported
graph and randomize a plain `model(x)`.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import keras
import numpy as np
import pandas as pd
import tensorflow as tf
from keras import layers

from tasklab.core.config import ConfigError
from tasklab.core.model_options import (
    ImageModelOptions,
    MobileNetV3SmallOptions,
    SmallCNNOptions,
)
from tasklab.core.registry import Registry
from tasklab.data.base import DataSpec, Split
from tasklab.edge.image_io import ImageSchema
from tasklab.tasks.base import ClassificationTask, ModelSpec, classifier_head, register_task

IMAGE_MODELS: Registry[ModelSpec] = Registry("image_classification model")
MAX_BASELINE_PIXELS = 32 * 32  # Larger images are downscaled for the pixel baselines.
COLORS = {1: "grayscale", 2: "grayscale+alpha", 3: "rgb", 4: "rgba"}
CONVERSION = (
    "decode to the file's own channels as float 0..255 (16-bit samples / sixteen_bit_divisor); "
    "expand to RGBA (gray repeated, missing alpha 255); alpha composite: "
    "rgb * a + background * (1 - a) with a = alpha / 255; alpha channel: alpha is the last "
    "channel; alpha drop: rgb; one color channel: gray images keep gray, others take "
    "luma_weights . rgb; three: rgb (see edge/image_io.py)"
)


def resolve_image_size(options: ImageModelOptions, spec: DataSpec) -> tuple[int, int]:
    """Returns the input `(height, width)`: configured, else native, >= the model's minimum."""
    height, width = options.image_size or spec.example_shape[:2]
    if height is None or width is None:
        raise ConfigError(
            "The dataset's images have no fixed size; set model.image_size: [height, width]."
        )
    return max(height, options.min_size), max(width, options.min_size)


def augmentation_layers(options: ImageModelOptions) -> list[layers.Layer]:
    """Returns the augmentation layers applied to training batches (none when `augment` is off)."""
    if not options.augment:
        return []
    augment = [
        layers.RandomTranslation(0.1, 0.1, fill_mode="constant"),
        layers.RandomRotation(0.05, fill_mode="constant"),
        layers.RandomZoom(0.1, fill_mode="constant"),
    ]
    if options.flip:
        augment.insert(0, layers.RandomFlip("horizontal"))
    return augment


def image_edge_input(spec: DataSpec, height: int, width: int) -> dict[str, Any]:
    """How a device turns an image file into a model input of `height` x `width` pixels.

    The conversion's settings (alpha handling, background, luma weights,
    16-bit scaling) are the dataset's `ImageSchema`; data without one
    (arrays, tfds) gets the defaults, which leave 8-bit opaque images as they are.

    Returns:
        The `input` section of `preprocessing.json` (read by `tasklab.edge.edge_inputs`).
    """
    schema = spec.schema if isinstance(spec.schema, ImageSchema) else ImageSchema()
    channels = int(spec.example_shape[-1])
    return {
        "kind": "image",
        "height": height,
        "width": width,
        "channels": channels,
        "color": COLORS[channels],
        "formats": "PNG (1- to 16-bit), JPEG, GIF (first frame), BMP (8-, 24-, 32-bit)",
        **schema.to_json(),
        "conversion": CONVERSION,
        "value_range": [0.0, 255.0],
        "resize": "bilinear",
        "scaling": "none: feed pixel values 0..255 as float32; the model rescales them",
    }


def build_small_cnn(options: SmallCNNOptions, spec: DataSpec) -> keras.Model:
    """A VGG-style CNN sized to the input: blocks of two 3x3 conv + BN + ReLU, then max-pool.

    The number of blocks grows with the image (2 for 8x8 digits, 3 for 28x28,
    4 from 32x32 up) so small images are not pooled away and large ones are
    reduced enough before global average pooling.
    """
    height, width = resolve_image_size(options, spec)
    inputs = keras.Input(shape=(height, width, spec.example_shape[-1]), name="image")
    x = layers.Rescaling(1.0 / 255.0)(inputs)
    blocks = min(4, max(2, int(math.log2(min(height, width))) - 1))
    for block in range(blocks):
        filters = options.filters * 2**block
        for _ in range(2):
            x = layers.Conv2D(filters, 3, padding="same", use_bias=False)(x)
            # Momentum 0.9: small datasets have few steps per epoch for the running stats.
            x = layers.BatchNormalization(momentum=0.9)(x)
            x = layers.ReLU()(x)
        x = layers.MaxPooling2D()(x)
    x = layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, classifier_head(x, spec, options.dropout), name="small_cnn")


def build_mobilenet_v3_small(options: MobileNetV3SmallOptions, spec: DataSpec) -> keras.Model:
    """MobileNetV3-Small backbone from keras.applications with our classifier head.

    Its own preprocessing layer rescales 0..255 pixels; grayscale images are
    repeated to three channels with a (serializable) Concatenate layer.
    """
    height, width = resolve_image_size(options, spec)
    if spec.example_shape[-1] not in (1, 3):
        raise ConfigError(
            "mobilenet_v3_small takes grayscale or RGB images; these have "
            f"{spec.example_shape[-1]} channels (alpha kept by data.image.alpha: channel). "
            "Use model.name: small_cnn, or data.image.alpha: composite."
        )
    inputs = keras.Input(shape=(height, width, spec.example_shape[-1]), name="image")
    x = inputs
    if spec.example_shape[-1] == 1:
        x = layers.Concatenate(name="gray_to_rgb")([x, x, x])
    backbone = keras.applications.MobileNetV3Small(
        input_shape=(height, width, 3),
        include_top=False,
        weights=None,
        pooling="avg",
        alpha=options.alpha,
        minimalistic=options.minimalistic,
        include_preprocessing=True,
    )
    if options.weights is not None:
        backbone.load_weights(str(Path(options.weights).expanduser()))
    x = backbone(x)
    return keras.Model(inputs, classifier_head(x, spec, options.dropout), name="mobilenet_v3_small")


IMAGE_MODELS.register("small_cnn")(
    ModelSpec(build_small_cnn, SmallCNNOptions, "a small VGG-style CNN for small images (default)")
)
IMAGE_MODELS.register("mobilenet_v3_small")(
    ModelSpec(
        build_mobilenet_v3_small, MobileNetV3SmallOptions, "MobileNetV3-Small (keras.applications)"
    )
)


@register_task
class ImageClassification(ClassificationTask):
    """Classifies images into the dataset's classes."""

    name = "image_classification"
    data_kind = "image"
    models = IMAGE_MODELS
    default_model = "small_cnn"
    explain_input = "pixels"
    explain_methods = ("gradient", "smoothgrad", "integrated_gradients", "grad_cam")

    def __init__(self, model, spec):
        super().__init__(model, spec)
        augment = augmentation_layers(self.model_config.options)
        self._augmenter = keras.Sequential(augment, name="augmentation") if augment else None

    def augment_batch(self, x: tf.Tensor, y: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        """Random translation, rotation, zoom (and flip) of a training batch."""
        if self._augmenter is None:
            return x, y
        return self._augmenter(x, training=True), y

    def input_size(self) -> tuple[int, int]:
        """Returns the `(height, width)` every image is resized to."""
        return resolve_image_size(self.model_config.options, self.spec)

    def preprocess(self, x: tf.Tensor, y: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        """Casts pixels to float32 (0..255 kept) and resizes to the model's input size."""
        image = tf.cast(x, tf.float32)
        size = self.input_size()
        if tuple(self.spec.example_shape[:2]) != size or not image.shape[:2].is_fully_defined():
            image = tf.image.resize(image, size)
        return image, tf.cast(y, tf.int32)

    def edge_input(self) -> dict[str, Any]:
        """An image file, decoded and converted as in training, resized bilinearly."""
        return image_edge_input(self.spec, *self.input_size())

    def input_convention(self, inputs: np.ndarray) -> dict[str, Any]:
        """Whether the images are light on dark or dark on light, read off their borders.

        The border of an image is mostly background: its median over the test
        images tells a device user which way round to feed images (MNIST-style
        digits are white on black; a scan of ink on paper must then be inverted).
        """
        border = np.concatenate(
            [
                inputs[:, 0].reshape(len(inputs), -1),
                inputs[:, -1].reshape(len(inputs), -1),
                inputs[:, :, 0].reshape(len(inputs), -1),
                inputs[:, :, -1].reshape(len(inputs), -1),
            ],
            axis=1,
        )
        median = float(np.median(border))
        if median < 255 / 3:
            polarity = "light on a dark background"
        elif median > 2 * 255 / 3:
            polarity = "dark on a light background"
        else:
            polarity = "no single background brightness"
        return {
            "appearance": {
                "polarity": polarity,
                "median_border_pixel": round(median, 1),
                "note": "the training images' border median (0 black, 255 white): feed images "
                "the same way round (invert them if yours are the other way)",
            }
        }

    def reference_input(self) -> np.ndarray:
        """A black image at the model's input size."""
        return np.zeros((*self.input_size(), self.spec.example_shape[-1]), dtype=np.float32)

    def baseline_features(self, split: Split) -> pd.DataFrame:
        """Pixels in [0, 1], downscaled to at most 32x32 pixels per channel, one row per image."""
        height, width = self.input_size()
        scale = min(1.0, (MAX_BASELINE_PIXELS / (height * width)) ** 0.5)
        size = (max(1, round(height * scale)), max(1, round(width * scale)))

        def pixels(x, y):
            image, _ = self.preprocess(x, y)
            if size != (height, width):
                image = tf.image.resize(image, size, antialias=True)
            return tf.reshape(image / 255.0, [-1])

        rows = np.concatenate(
            list(
                split.make_dataset()
                .map(pixels, num_parallel_calls=tf.data.AUTOTUNE)
                .batch(512)
                .as_numpy_iterator()
            )
        )
        return pd.DataFrame(rows, columns=[f"pixel_{i}" for i in range(rows.shape[1])])
