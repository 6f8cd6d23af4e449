"""Semantic segmentation models: images in, per-pixel class probabilities out.

Both take uint8-range float pixels (rescaled inside, as the image classifiers
do) and end in a float32 softmax over classes per pixel, at the input's size:

    unet        a small U-Net (Ronneberger et al., 2015): conv blocks down,
                bilinear upsampling and skip concatenations up (default)
    deeplab     a MobileNetV3-Small encoder (keras.applications) with a
                DeepLabV3+-style decoder (Chen et al., 2018): an atrous pyramid
                with image pooling on the stride-16 features, upsampled 4x and
                joined with the stride-4 features, then upsampled 4x

Every op converts to a builtin LiteRT op (convolutions, dilated ones included,
resize, concatenation, mean, softmax); the conformance tests check it.
"""

from __future__ import annotations

import math
from pathlib import Path

import keras
from keras import layers

from tasklab.core.config import ConfigError
from tasklab.core.model_options import DeepLabOptions, SegmentationModelOptions, UNetOptions
from tasklab.core.registry import Registry
from tasklab.data.base import DataSpec
from tasklab.tasks.base import ModelSpec

SEGMENTATION_MODELS: Registry[ModelSpec] = Registry("semantic_segmentation model")
LOW_LEVEL_STRIDE, HIGH_LEVEL_STRIDE = 4, 16  # The DeepLabV3+ decoder's two feature maps.


def segmentation_size(options: SegmentationModelOptions, spec: DataSpec) -> tuple[int, int]:
    """The input `(height, width)`: configured or native, at least the model's minimum,
    rounded up to a multiple of `options.size_multiple` (the model's total downsampling)."""
    multiple = options.size_multiple
    height, width = options.image_size or spec.example_shape[:2]
    if height is None or width is None:
        raise ConfigError(
            "The dataset's images have no fixed size; set model.image_size: [height, width]."
        )

    def fit(value: int) -> int:
        return math.ceil(max(value, options.min_size) / multiple) * multiple

    return fit(height), fit(width)


def conv_block(x: keras.KerasTensor, filters: int, name: str) -> keras.KerasTensor:
    """Two 3x3 convolutions, each with batch normalization and ReLU."""
    for index in (1, 2):
        x = layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"{name}_conv{index}")(x)
        # Momentum 0.9: small datasets have few steps per epoch for the running stats.
        x = layers.BatchNormalization(momentum=0.9, name=f"{name}_bn{index}")(x)
        x = layers.ReLU(name=f"{name}_relu{index}")(x)
    return x


def pixel_classifier(x: keras.KerasTensor, spec: DataSpec, dropout: float) -> keras.KerasTensor:
    """Dropout, a 1x1 convolution to the classes and a softmax per pixel, in float32."""
    if dropout > 0:
        x = layers.Dropout(dropout, name="head_dropout")(x)
    x = layers.Conv2D(spec.num_classes, 1, name="class_logits")(x)
    return layers.Softmax(axis=-1, dtype="float32", name="probabilities")(x)


def build_unet(options: UNetOptions, spec: DataSpec) -> keras.Model:
    """A U-Net: `depth` levels of conv blocks and 2x2 max-pooling, then back up with skips."""
    height, width = segmentation_size(options, spec)
    inputs = keras.Input(shape=(height, width, spec.example_shape[-1]), name="image")
    x = layers.Rescaling(1.0 / 255.0, name="rescale")(inputs)
    skips = []
    for level in range(options.depth):
        x = conv_block(x, options.filters * 2**level, f"down{level}")
        skips.append(x)
        x = layers.MaxPooling2D(name=f"pool{level}")(x)
    x = conv_block(x, options.filters * 2**options.depth, "bottom")
    for level in reversed(range(options.depth)):
        x = layers.UpSampling2D(interpolation="bilinear", name=f"up{level}")(x)
        x = layers.Concatenate(name=f"skip{level}")([x, skips[level]])
        x = conv_block(x, options.filters * 2**level, f"up{level}")
    return keras.Model(inputs, pixel_classifier(x, spec, options.dropout), name="unet")


def build_deeplab(options: DeepLabOptions, spec: DataSpec) -> keras.Model:
    """MobileNetV3-Small features at strides 4 and 16, decoded DeepLabV3+-style."""
    if spec.example_shape[-1] not in (1, 3):
        raise ConfigError(
            "deeplab takes grayscale or RGB images; these have "
            f"{spec.example_shape[-1]} channels (alpha kept by data.image.alpha: channel). "
            "Use model.name: unet, or data.image.alpha: composite."
        )
    height, width = segmentation_size(options, spec)
    inputs = keras.Input(shape=(height, width, spec.example_shape[-1]), name="image")
    x = inputs
    if spec.example_shape[-1] == 1:
        x = layers.Concatenate(name="gray_to_rgb")([x, x, x])
    low, high = mobilenet_features(options, height, width)(x)
    x = atrous_pyramid(high, options)
    # UpSampling2D, not Resizing: Resizing's call defaults to training=True, which leaks into
    # the call context and runs the BatchNormalization after it in training mode in an
    # exported model (keras-team/keras-hub#2776, keras-team/keras#23166). The input size is a
    # multiple of 32, so both upsamplings are exact integer factors.
    x = layers.UpSampling2D(
        HIGH_LEVEL_STRIDE // LOW_LEVEL_STRIDE, interpolation="bilinear", name="decoder_up"
    )(x)
    reduced = layers.Conv2D(48, 1, use_bias=False, name="low_level_conv")(low)
    reduced = layers.BatchNormalization(momentum=0.9, name="low_level_bn")(reduced)
    reduced = layers.ReLU(name="low_level_relu")(reduced)
    x = layers.Concatenate(name="decoder_concat")([x, reduced])
    x = conv_block(x, options.filters, "decoder")
    x = layers.UpSampling2D(LOW_LEVEL_STRIDE, interpolation="bilinear", name="output_up")(x)
    return keras.Model(inputs, pixel_classifier(x, spec, options.dropout), name="deeplab")


def mobilenet_features(options: DeepLabOptions, height: int, width: int) -> keras.Model:
    """MobileNetV3-Small (its own preprocessing included) returning its stride-4 and
    stride-16 feature maps: the last layer at each of those resolutions."""
    backbone = keras.applications.MobileNetV3Small(
        input_shape=(height, width, 3),
        include_top=False,
        weights=None,
        alpha=options.alpha,
        minimalistic=options.minimalistic,
        include_preprocessing=True,
    )
    if options.weights is not None:
        backbone.load_weights(str(Path(options.weights).expanduser()))
    by_size = {}
    for layer in backbone.layers:
        shape = layer.output.shape
        if len(shape) == 4 and shape[1] is not None and shape[1] > 1:
            by_size[shape[1]] = layer.output  # The last layer at each resolution wins.
    low = by_size[math.ceil(height / LOW_LEVEL_STRIDE)]
    high = by_size[math.ceil(height / HIGH_LEVEL_STRIDE)]
    return keras.Model(backbone.input, [low, high], name="mobilenet_v3_small_features")


def atrous_pyramid(x: keras.KerasTensor, options: DeepLabOptions) -> keras.KerasTensor:
    """DeepLabV3's pyramid: a 1x1 branch, dilated 3x3 branches and image pooling, fused."""

    def branch(y: keras.KerasTensor, name: str, **conv) -> keras.KerasTensor:
        y = layers.Conv2D(
            options.filters, use_bias=False, padding="same", name=f"{name}_conv", **conv
        )(y)
        y = layers.BatchNormalization(momentum=0.9, name=f"{name}_bn")(y)
        return layers.ReLU(name=f"{name}_relu")(y)

    branches = [branch(x, "aspp_1x1", kernel_size=1)]
    for rate in options.rates:
        branches.append(branch(x, f"aspp_rate{rate}", kernel_size=3, dilation_rate=rate))
    pooled = layers.GlobalAveragePooling2D(keepdims=True, name="aspp_pool")(x)
    pooled = branch(pooled, "aspp_image", kernel_size=1)
    branches.append(layers.UpSampling2D(size=x.shape[1:3], name="aspp_image_up")(pooled))
    fused = layers.Concatenate(name="aspp_concat")(branches)
    return branch(fused, "aspp_fuse", kernel_size=1)


SEGMENTATION_MODELS.register("unet")(ModelSpec(build_unet, UNetOptions, "a small U-Net (default)"))
SEGMENTATION_MODELS.register("deeplab")(
    ModelSpec(
        build_deeplab,
        DeepLabOptions,
        "MobileNetV3-Small encoder with a DeepLabV3+-style decoder (keras.applications)",
    )
)
