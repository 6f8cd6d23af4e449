"""The options of every task's models, importable without TensorFlow.

`core.config` validates a config's `model` section against these
dataclasses (`MODEL_OPTIONS`), so a config error answers in a moment; each
task module registers its model builders with the same classes, and a test
keeps the two in step.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import ClassVar

from tasklab.core.errors import ConfigError

# image_classification


@dataclasses.dataclass(frozen=True)
class ImageModelOptions:
    """Options every image model takes.

    Attributes:
        image_size: `[height, width]` the images are resized to; default: the
            dataset's native size (the most common one for a folder), raised
            to the model's minimum.
        augment: random translation, rotation and zoom while training.
        flip: random horizontal flips while training (off by default: they
            change the meaning of digits and text).
        dropout: dropout rate before the classifier.
    """

    min_size: ClassVar[int] = 8

    image_size: tuple[int, int] | None = None
    augment: bool = True
    flip: bool = False
    dropout: float = 0.2

    def __post_init__(self):
        if self.image_size is not None and (len(self.image_size) != 2 or min(self.image_size) < 1):
            raise ConfigError(
                f"model.image_size must be [height, width]. Received: {self.image_size}."
            )
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"model.dropout must be in [0, 1). Received: {self.dropout}.")


@dataclasses.dataclass(frozen=True)
class SmallCNNOptions(ImageModelOptions):
    """Options of the small CNN.

    Attributes:
        filters: filters of the first block; each further block doubles them.
    """

    filters: int = 32

    def __post_init__(self):
        super().__post_init__()
        if self.filters < 1:
            raise ConfigError(f"model.filters must be >= 1. Received: {self.filters}.")


@dataclasses.dataclass(frozen=True)
class MobileNetV3SmallOptions(ImageModelOptions):
    """Options of MobileNetV3-Small (keras.applications).

    Attributes:
        weights: null (random initialization) or the path of a local weights
            file for the backbone without its top (nothing is downloaded).
        alpha: width multiplier.
        minimalistic: the variant without squeeze-excite and hard-swish.
    """

    min_size: ClassVar[int] = 32

    weights: str | None = None
    alpha: float = 1.0
    minimalistic: bool = False

    def __post_init__(self):
        super().__post_init__()
        if self.weights is not None and not Path(self.weights).expanduser().is_file():
            raise ConfigError(
                f"model.weights must be null or the path of a local weights file (nothing is "
                f"downloaded). Received: '{self.weights}', which is not a file."
            )


# tabular_classification and tabular_regression


@dataclasses.dataclass(frozen=True)
class MLPOptions:
    """Options of the tabular MLP.

    Attributes:
        hidden: units of each hidden layer.
        dropout: dropout after each hidden layer (weight decay is `train.weight_decay`).
    """

    hidden: tuple[int, ...] = (128, 64)
    dropout: float = 0.1

    def __post_init__(self):
        if not self.hidden or min(self.hidden) < 1:
            raise ConfigError(
                f"model.hidden must list positive layer sizes. Received: {self.hidden}."
            )
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"model.dropout must be in [0, 1). Received: {self.dropout}.")


# keyword_spotting


@dataclasses.dataclass(frozen=True)
class KeywordModelOptions:
    """Options every keyword model takes: its log-mel front end, augmentation and head.

    Attributes:
        mel_bins: mel bands of the spectrogram.
        window_ms: analysis window (ms); the FFT is the next power of two.
        stride_ms: hop between windows (ms).
        max_freq: the highest mel frequency (Hz; default half the sample rate).
        spec_augment: SpecAugment masks while training.
        time_shift_ms: the largest random shift of a training clip (ms; 0: none).
        noise_probability: the chance a training clip gets background noise mixed in.
        noise_snr_db: `[low, high]` SNR of that noise (dB, drawn uniformly).
        dropout: dropout rate before the classifier.
    """

    mel_bins: int = 40
    window_ms: float = 30.0
    stride_ms: float = 20.0
    max_freq: float | None = None
    spec_augment: bool = True
    time_shift_ms: float = 100.0
    noise_probability: float = 0.8
    noise_snr_db: tuple[float, ...] = (0.0, 30.0)
    dropout: float = 0.2

    def __post_init__(self):
        if self.mel_bins < 8:
            raise ConfigError(f"model.mel_bins must be >= 8. Received: {self.mel_bins}.")
        if not 0 < self.stride_ms <= self.window_ms:
            raise ConfigError(
                f"model.stride_ms must be in (0, window_ms]. Received: {self.stride_ms} "
                f"(window_ms {self.window_ms})."
            )
        if not 0.0 <= self.noise_probability <= 1.0:
            raise ConfigError(
                f"model.noise_probability must be in [0, 1]. Received: {self.noise_probability}."
            )
        if len(self.noise_snr_db) != 2 or self.noise_snr_db[0] > self.noise_snr_db[1]:
            raise ConfigError(
                f"model.noise_snr_db must be [low, high]. Received: {list(self.noise_snr_db)}."
            )
        if self.time_shift_ms < 0:
            raise ConfigError(f"model.time_shift_ms must be >= 0. Received: {self.time_shift_ms}.")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"model.dropout must be in [0, 1). Received: {self.dropout}.")


@dataclasses.dataclass(frozen=True)
class ConvStackOptions(KeywordModelOptions):
    """Options of a classifier made of `blocks` convolution blocks of `filters` channels."""

    filters: int = 16
    blocks: int = 3

    def __post_init__(self):
        super().__post_init__()
        if self.filters < 1 or self.blocks < 1:
            raise ConfigError(
                f"model.filters and model.blocks must be >= 1. Received: {self.filters}, "
                f"{self.blocks}."
            )


@dataclasses.dataclass(frozen=True)
class DSCNNOptions(ConvStackOptions):
    """Options of the DS-CNN.

    Attributes:
        filters: channels of every layer (64 in Hello Edge's DS-CNN-S).
        blocks: depthwise-separable blocks after the first convolution.
    """

    filters: int = 64
    blocks: int = 4


@dataclasses.dataclass(frozen=True)
class AudioCNNOptions(ConvStackOptions):
    """Options of the plain CNN.

    Attributes:
        filters: filters of the first block; each further block doubles them.
        blocks: blocks of 3x3 convolution, batch normalization, ReLU and pooling.
    """


# text_classification


@dataclasses.dataclass(frozen=True)
class TextModelOptions:
    """Options every text model takes.

    Attributes:
        embedding_dim: width of the token embeddings.
        dropout: dropout rate before the classifier.
    """

    embedding_dim: int = 64
    dropout: float = 0.2

    def __post_init__(self):
        if self.embedding_dim < 1:
            raise ConfigError(f"model.embedding_dim must be >= 1. Received: {self.embedding_dim}.")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"model.dropout must be in [0, 1). Received: {self.dropout}.")


@dataclasses.dataclass(frozen=True)
class CNNOptions(TextModelOptions):
    """Options of the 1-D CNN.

    Attributes:
        filters: filters of each convolution.
        kernel_sizes: one parallel convolution per width (in tokens), max-pooled over the text.
    """

    filters: int = 128
    kernel_sizes: tuple[int, ...] = (3, 5)

    def __post_init__(self):
        super().__post_init__()
        if self.filters < 1 or not self.kernel_sizes or min(self.kernel_sizes) < 1:
            raise ConfigError(
                "model.filters must be >= 1 and model.kernel_sizes a list of positive widths. "
                f"Received: filters={self.filters}, kernel_sizes={list(self.kernel_sizes)}."
            )


@dataclasses.dataclass(frozen=True)
class BiGRUOptions(TextModelOptions):
    """Options of the bidirectional GRU.

    Attributes:
        units: units of each direction.
        max_steps: the GRU reads the first `max_steps` tokens: it is unrolled
            over them (LiteRT has no builtin loop for a recurrent layer), so
            this bounds the size of the graph.
    """

    units: int = 64
    max_steps: int = 128

    def __post_init__(self):
        super().__post_init__()
        if self.units < 1 or self.max_steps < 1:
            raise ConfigError(
                f"model.units and model.max_steps must be >= 1. Received: units={self.units}, "
                f"max_steps={self.max_steps}."
            )


@dataclasses.dataclass(frozen=True)
class TransformerOptions(TextModelOptions):
    """Options of the small Transformer encoder.

    Attributes:
        blocks: encoder blocks.
        heads: attention heads (each of width embedding_dim / heads).
        ff_dim: hidden units of each block's MLP.
    """

    blocks: int = 2
    heads: int = 4
    ff_dim: int = 128

    def __post_init__(self):
        super().__post_init__()
        if min(self.blocks, self.heads, self.ff_dim) < 1:
            raise ConfigError("model.blocks, model.heads and model.ff_dim must be >= 1.")
        if self.embedding_dim % self.heads:
            raise ConfigError(
                f"model.embedding_dim ({self.embedding_dim}) must be a multiple of model.heads "
                f"({self.heads})."
            )


# Task -> model name -> its options; the first model of each task is its default.
MODEL_OPTIONS: dict[str, dict[str, type]] = {
    "image_classification": {
        "small_cnn": SmallCNNOptions,
        "mobilenet_v3_small": MobileNetV3SmallOptions,
    },
    "tabular_classification": {"mlp": MLPOptions},
    "tabular_regression": {"mlp": MLPOptions},
    "text_classification": {
        "embedding_bag": TextModelOptions,
        "cnn": CNNOptions,
        "bigru": BiGRUOptions,
        "transformer": TransformerOptions,
    },
    "keyword_spotting": {"ds_cnn": DSCNNOptions, "cnn": AudioCNNOptions},
}


def default_model(task: str) -> str:
    """The model a task builds when the config names none."""
    return next(iter(MODEL_OPTIONS[task]))
