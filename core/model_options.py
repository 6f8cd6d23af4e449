"""The options of every task's models, importable without TensorFlow.

`core.config` validates a config's `model` section against these
dataclasses (`MODEL_OPTIONS`), so a config error answers in a moment; each
task module registers its model builders with the same classes, and a test
keeps the two in step. Each option declares its constraints in its annotation
(see `core.sections`); `check()` holds the rules that relate two options.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Annotated, ClassVar

from annotated_types import Ge, Gt, Le, Len, Lt, MinLen

from tasklab.core.errors import ConfigError
from tasklab.core.sections import Section, Why


def check_weights_file(weights: str | None) -> None:
    """A backbone's `model.weights`: null, or a local file (nothing is downloaded).

    Not a declarable constraint: whether the file exists is known only when checked.

    Raises:
        ConfigError: naming the path.
    """
    if weights is not None and not Path(weights).expanduser().is_file():
        raise ConfigError(
            f"model.weights must be null or the path of a local weights file (nothing is "
            f"downloaded). Received: '{weights}', which is not a file."
        )


# A dropout rate: 1 would drop everything.
Dropout = Annotated[float, Ge(0), Lt(1)]

# image_classification


@dataclasses.dataclass(frozen=True)
class ImageModelOptions(Section):
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

    where: ClassVar[str] = "model"
    min_size: ClassVar[int] = 8

    image_size: (
        Annotated[tuple[Annotated[int, Ge(1)], ...], Len(2, 2), Why("[height, width]")] | None
    ) = None
    augment: bool = True
    flip: bool = False
    dropout: Dropout = 0.2


@dataclasses.dataclass(frozen=True)
class SmallCNNOptions(ImageModelOptions):
    """Options of the small CNN.

    Attributes:
        filters: filters of the first block; each further block doubles them.
    """

    filters: Annotated[int, Ge(1)] = 32


@dataclasses.dataclass(frozen=True)
class MobileNetV3Backbone(Section):
    """The options of a MobileNetV3-Small backbone (keras.applications), for any head.

    Attributes:
        weights: null (random initialization) or the path of a local weights
            file for the backbone without its top (nothing is downloaded).
        alpha: the backbone's width multiplier.
        minimalistic: the backbone variant without squeeze-excite and hard-swish.
    """

    min_size: ClassVar[int] = 32

    weights: str | None = None
    alpha: Annotated[float, Gt(0)] = 1.0
    minimalistic: bool = False

    def check(self) -> None:
        check_weights_file(self.weights)


@dataclasses.dataclass(frozen=True)
class MobileNetV3SmallOptions(MobileNetV3Backbone, ImageModelOptions):
    """Options of MobileNetV3-Small (keras.applications) with a classifier head."""


# tabular_classification and tabular_regression


@dataclasses.dataclass(frozen=True)
class MLPOptions(Section):
    """Options of the tabular MLP.

    Attributes:
        hidden: units of each hidden layer.
        dropout: dropout after each hidden layer (weight decay is `train.weight_decay`).
    """

    where: ClassVar[str] = "model"

    hidden: Annotated[tuple[Annotated[int, Ge(1)], ...], MinLen(1)] = (128, 64)
    dropout: Dropout = 0.1


# keyword_spotting


@dataclasses.dataclass(frozen=True)
class KeywordModelOptions(Section):
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

    where: ClassVar[str] = "model"

    mel_bins: Annotated[int, Ge(8)] = 40
    window_ms: Annotated[float, Gt(0)] = 30.0
    stride_ms: Annotated[float, Gt(0)] = 20.0
    max_freq: float | None = None
    spec_augment: bool = True
    time_shift_ms: Annotated[float, Ge(0)] = 100.0
    noise_probability: Annotated[float, Ge(0), Le(1)] = 0.8
    noise_snr_db: Annotated[tuple[float, ...], Len(2, 2), Why("[low, high]")] = (0.0, 30.0)
    dropout: Dropout = 0.2

    def check(self) -> None:
        if self.stride_ms > self.window_ms:
            raise ConfigError(
                f"model.stride_ms must be in (0, window_ms]. Received: {self.stride_ms} "
                f"(window_ms {self.window_ms})."
            )
        if self.noise_snr_db[0] > self.noise_snr_db[1]:
            raise ConfigError(
                "model.noise_snr_db must be [low, high] with low <= high. "
                f"Received: {list(self.noise_snr_db)}."
            )


@dataclasses.dataclass(frozen=True)
class ConvStackOptions(KeywordModelOptions):
    """Options of a classifier made of `blocks` convolution blocks of `filters` channels."""

    filters: Annotated[int, Ge(1)] = 16
    blocks: Annotated[int, Ge(1)] = 3


@dataclasses.dataclass(frozen=True)
class DSCNNOptions(ConvStackOptions):
    """Options of the DS-CNN.

    Attributes:
        filters: channels of every layer (64 in Hello Edge's DS-CNN-S).
        blocks: depthwise-separable blocks after the first convolution.
    """

    filters: Annotated[int, Ge(1)] = 64
    blocks: Annotated[int, Ge(1)] = 4


@dataclasses.dataclass(frozen=True)
class AudioCNNOptions(ConvStackOptions):
    """Options of the plain CNN.

    Attributes:
        filters: filters of the first block; each further block doubles them.
        blocks: blocks of 3x3 convolution, batch normalization, ReLU and pooling.
    """


# text_classification


@dataclasses.dataclass(frozen=True)
class TextModelOptions(Section):
    """Options every text model takes.

    Attributes:
        embedding_dim: width of the token embeddings.
        dropout: dropout rate before the classifier.
    """

    where: ClassVar[str] = "model"

    embedding_dim: Annotated[int, Ge(1)] = 64
    dropout: Dropout = 0.2


@dataclasses.dataclass(frozen=True)
class CNNOptions(TextModelOptions):
    """Options of the 1-D CNN.

    Attributes:
        filters: filters of each convolution.
        kernel_sizes: one parallel convolution per width (in tokens), max-pooled over the text.
    """

    filters: Annotated[int, Ge(1)] = 128
    kernel_sizes: Annotated[tuple[Annotated[int, Ge(1)], ...], MinLen(1)] = (3, 5)


@dataclasses.dataclass(frozen=True)
class BiGRUOptions(TextModelOptions):
    """Options of the bidirectional GRU.

    Attributes:
        units: units of each direction.
        max_steps: the GRU reads the first `max_steps` tokens: it is unrolled
            over them (LiteRT has no builtin loop for a recurrent layer), so
            this bounds the size of the graph.
    """

    units: Annotated[int, Ge(1)] = 64
    max_steps: Annotated[int, Ge(1)] = 128


@dataclasses.dataclass(frozen=True)
class TransformerOptions(TextModelOptions):
    """Options of the small Transformer encoder.

    Attributes:
        blocks: encoder blocks.
        heads: attention heads (each of width embedding_dim / heads).
        ff_dim: hidden units of each block's MLP.
    """

    blocks: Annotated[int, Ge(1)] = 2
    heads: Annotated[int, Ge(1)] = 4
    ff_dim: Annotated[int, Ge(1)] = 128

    def check(self) -> None:
        if self.embedding_dim % self.heads:
            raise ConfigError(
                f"model.embedding_dim ({self.embedding_dim}) must be a multiple of model.heads "
                f"({self.heads})."
            )


# semantic_segmentation


@dataclasses.dataclass(frozen=True)
class SegmentationModelOptions(ImageModelOptions):
    """Options every segmentation model takes (augmentation moves image and mask together).

    Attributes:
        image_size: `[height, width]` the images and masks are resized to;
            default: the dataset's native size, raised to the model's minimum
            and rounded up to a multiple of its total downsampling.
        flip: random horizontal flips while training (on by default: a scene
            mirrored is still a scene).
        dropout: dropout rate before the per-pixel classifier.
        dice_loss: the weight of a soft Dice loss added to the cross-entropy
            (0: cross-entropy alone). Dice weighs every class alike, whatever
            its area, so it helps small objects on a large background.
    """

    flip: bool = True
    dropout: Dropout = 0.1
    dice_loss: Annotated[float, Ge(0)] = 0.0


@dataclasses.dataclass(frozen=True)
class UNetOptions(SegmentationModelOptions):
    """Options of the U-Net.

    Attributes:
        filters: filters of the first level; each level down doubles them.
        depth: downsampling levels (the input size becomes a multiple of 2^depth).
    """

    filters: Annotated[int, Ge(1)] = 16
    depth: Annotated[int, Ge(1), Le(6)] = 3

    @property
    def size_multiple(self) -> int:
        """The input's height and width must be multiples of this: 2^depth."""
        return 2**self.depth


@dataclasses.dataclass(frozen=True)
class DeepLabOptions(MobileNetV3Backbone, SegmentationModelOptions):
    """Options of the MobileNetV3-Small encoder with a DeepLabV3+-style decoder.

    Attributes:
        filters: filters of the atrous pyramid and the decoder.
        rates: dilation rates of the pyramid's 3x3 branches (beside a 1x1
            branch and the image-pooling branch).
    """

    filters: Annotated[int, Ge(1)] = 64
    rates: Annotated[tuple[Annotated[int, Ge(1)], ...], MinLen(1)] = (2, 4)

    @property
    def size_multiple(self) -> int:
        """The input's height and width must be multiples of this: the backbone's stride, 32."""
        return 32


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
    "semantic_segmentation": {"unet": UNetOptions, "deeplab": DeepLabOptions},
}


def default_model(task: str) -> str:
    """The model a task builds when the config names none."""
    return next(iter(MODEL_OPTIONS[task]))
