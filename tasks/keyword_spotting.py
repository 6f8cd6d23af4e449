"""Keyword spotting: a raw audio clip in, one probability per keyword (and unknown, silence) out.

The model takes the clip's float samples in [-1, 1] and computes its own
log-mel spectrogram (`keras.layers.MelSpectrogram`, then `LogMel`), so the
exported LiteRT model takes raw audio, as a microphone gives it. The default
classifier is the DS-CNN of Zhang et al., "Hello Edge: Keyword Spotting on
Microcontrollers" (2017): a strided convolution, then depthwise-separable
blocks, average pooling and a softmax.

Augmentation, training batches only: random time shifts and background
noise at a random SNR in the input pipeline (`augment_batch`), and
SpecAugment's time and frequency masks (Park et al., 2019) inside the model,
active only when Keras trains it, so `model(x)` and the export stay
deterministic.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import keras
import numpy as np
import pandas as pd
import scipy.fft
import tensorflow as tf
from keras import layers, ops

from tasklab.core.config import ConfigError
from tasklab.core.model_options import AudioCNNOptions, DSCNNOptions, KeywordModelOptions
from tasklab.core.registry import Registry
from tasklab.data.audio import NOISE_COLORS, AudioSchema, colored_noise
from tasklab.data.base import DataSpec, Split
from tasklab.tasks.base import (
    ClassificationTask,
    ExplanationSubject,
    ModelSpec,
    classifier_head,
    register_task,
)

KEYWORD_MODELS: Registry[ModelSpec] = Registry("keyword_spotting model")
SPECTROGRAM_LAYER = "log_mel"  # The front end's last layer: raw audio -> log-mel spectrogram.
CLASSIFIER_LAYER = "classifier"  # The nested model that maps the spectrogram to probabilities.
LOG_FLOOR = 1e-6  # log(mel + floor): silence maps to about -13.8 rather than -inf.
MFCC_COEFFICIENTS = 13
_NOISE_BANK_CLIPS = 24  # Background-noise clips augmentation draws from.
_SERIALIZABLE_PACKAGE = "tasklab"


@keras.saving.register_keras_serializable(package=_SERIALIZABLE_PACKAGE)
class LogMel(layers.Layer):
    """`(batch, mels, frames)` mel power -> `(batch, frames, mels, 1)` log power.

    Unlike `MelSpectrogram(power_to_db=True)`, whose `top_db` floor is taken
    from the maximum over the whole batch (so one clip's features would
    depend on the others), the floor here is a constant.
    """

    def __init__(self, floor: float = LOG_FLOOR, **kwargs):
        super().__init__(**kwargs)
        self.floor = floor

    def call(self, mel):
        return ops.expand_dims(ops.transpose(ops.log(mel + self.floor), (0, 2, 1)), -1)

    def get_config(self):
        return {**super().get_config(), "floor": self.floor}


@keras.saving.register_keras_serializable(package=_SERIALIZABLE_PACKAGE)
class SpecAugment(layers.Layer):
    """Random time and frequency masks on `(batch, frames, mels, 1)` while training; else identity.

    Each mask covers a random width (up to its maximum) at a random place and
    is filled with the clip's mean log power (Park et al., 2019).

    Args:
        time_masks: masks along time per clip.
        max_frames: the widest time mask.
        frequency_masks: masks along the mel bands per clip.
        max_bands: the widest frequency mask.
        seed: seeds the masks.
    """

    def __init__(
        self,
        time_masks: int = 2,
        max_frames: int = 8,
        frequency_masks: int = 2,
        max_bands: int = 6,
        seed: int | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.time_masks, self.max_frames = time_masks, max_frames
        self.frequency_masks, self.max_bands = frequency_masks, max_bands
        self.seed = seed
        self._generator = keras.random.SeedGenerator(seed)

    def call(self, x, training=None):
        if not training:
            return x
        fill = ops.mean(x, axis=(1, 2, 3), keepdims=True)
        keep = ops.ones_like(x)
        for _ in range(self.time_masks):
            keep = keep * self._band_kept(x, axis=1, widest=self.max_frames)
        for _ in range(self.frequency_masks):
            keep = keep * self._band_kept(x, axis=2, widest=self.max_bands)
        return x * keep + fill * (1.0 - keep)

    def _band_kept(self, x, axis: int, widest: int):
        """1 outside one random band per clip along `axis`, 0 inside it."""
        batch, length = ops.shape(x)[0], ops.shape(x)[axis]
        width = ops.floor(keras.random.uniform((batch, 1), 0, widest + 1, seed=self._generator))
        start = ops.floor(
            keras.random.uniform((batch, 1), seed=self._generator)
            * ops.maximum(ops.cast(length, "float32") - width, 1.0)
        )
        positions = ops.cast(ops.arange(length), "float32")[None, :]
        inside = ops.logical_and(positions >= start, positions < start + width)
        shape = (batch, length, 1, 1) if axis == 1 else (batch, 1, length, 1)
        return ops.reshape(1.0 - ops.cast(inside, x.dtype), shape)

    def get_config(self):
        return {
            **super().get_config(),
            "time_masks": self.time_masks,
            "max_frames": self.max_frames,
            "frequency_masks": self.frequency_masks,
            "max_bands": self.max_bands,
            "seed": self.seed,
        }


def audio_schema(spec: DataSpec) -> AudioSchema:
    """The dataset's clip format (raises for a spec that is not audio)."""
    if not isinstance(spec.schema, AudioSchema):
        raise ConfigError("keyword_spotting needs an audio dataset (the spec has no AudioSchema).")
    return spec.schema


def front_end_settings(options: KeywordModelOptions, schema: AudioSchema) -> dict[str, Any]:
    """The `MelSpectrogram` arguments for the options at the clips' sample rate."""
    window = round(schema.sample_rate * options.window_ms / 1000)
    return {
        "fft_length": int(2 ** np.ceil(np.log2(window))),
        "sequence_length": window,
        "sequence_stride": round(schema.sample_rate * options.stride_ms / 1000),
        "sampling_rate": schema.sample_rate,
        "num_mel_bins": options.mel_bins,
        "min_freq": 20.0,
        "max_freq": options.max_freq or schema.sample_rate / 2,
        "power_to_db": False,
    }


def with_front_end(
    options: KeywordModelOptions,
    spec: DataSpec,
    classify: Callable[[keras.KerasTensor], keras.KerasTensor],
    name: str,
) -> keras.Model:
    """Raw audio -> log-mel spectrogram -> a nested `classifier` model -> probabilities.

    The classifier is a model of its own, taking the spectrogram, so
    explanations run it directly over spectrograms (Grad-CAM finds its
    convolutions at its top level). SpecAugment is its first layer.

    Args:
        options: the model options (front end, augmentation, dropout).
        spec: the data spec (clip format, classes).
        classify: maps the spectrogram tensor to the pooled features.
        name: the model's name.

    Returns:
        The model, raw audio in.
    """
    schema = audio_schema(spec)
    audio = keras.Input(shape=(schema.clip_samples,), name="audio")
    # The front end stays float32 under mixed precision: power spans ~100 dB.
    mel = layers.MelSpectrogram(
        **front_end_settings(options, schema), name="mel_spectrogram", dtype="float32"
    )(audio)
    spectrogram = LogMel(name=SPECTROGRAM_LAYER, dtype="float32")(mel)
    inputs = keras.Input(shape=spectrogram.shape[1:], name="spectrogram")
    x = SpecAugment(name="spec_augment")(inputs) if options.spec_augment else inputs
    classifier = keras.Model(
        inputs, classifier_head(classify(x), spec, options.dropout), name=CLASSIFIER_LAYER
    )
    return keras.Model(audio, classifier(spectrogram), name=name)


def conv_bn_relu(x: keras.KerasTensor, conv: layers.Layer) -> keras.KerasTensor:
    """A convolution, batch normalization and ReLU."""
    # Momentum 0.9: the running statistics settle within the few hundred steps of a small dataset.
    return layers.ReLU()(layers.BatchNormalization(momentum=0.9)(conv(x)))


def build_ds_cnn(options: DSCNNOptions, spec: DataSpec) -> keras.Model:
    """DS-CNN (Hello Edge): a 10x4 strided convolution, then depthwise-separable 3x3 blocks."""

    def classify(x):
        conv = layers.Conv2D(options.filters, (10, 4), strides=2, padding="same", use_bias=False)
        x = conv_bn_relu(x, conv)
        for _ in range(options.blocks):
            x = conv_bn_relu(x, layers.DepthwiseConv2D(3, padding="same", use_bias=False))
            x = conv_bn_relu(x, layers.Conv2D(options.filters, 1, use_bias=False))
        return layers.GlobalAveragePooling2D()(x)

    return with_front_end(options, spec, classify, "ds_cnn")


def build_audio_cnn(options: AudioCNNOptions, spec: DataSpec) -> keras.Model:
    """Blocks of 3x3 convolution, batch normalization, ReLU and 2x2 max-pooling."""

    def classify(x):
        for block in range(options.blocks):
            conv = layers.Conv2D(options.filters * 2**block, 3, padding="same", use_bias=False)
            x = layers.MaxPooling2D()(conv_bn_relu(x, conv))
        return layers.GlobalAveragePooling2D()(x)

    return with_front_end(options, spec, classify, "cnn")


KEYWORD_MODELS.register("ds_cnn")(
    ModelSpec(build_ds_cnn, DSCNNOptions, "DS-CNN (Hello Edge) on a log-mel spectrogram (default)")
)
KEYWORD_MODELS.register("cnn")(
    ModelSpec(build_audio_cnn, AudioCNNOptions, "a plain CNN on a log-mel spectrogram")
)


def noise_bank(clip_samples: int, seed: int) -> np.ndarray:
    """`(clips, clip_samples)` unit-RMS white, pink and brown noise for augmentation."""
    rng = np.random.default_rng(seed)
    colors = list(NOISE_COLORS)
    return np.stack(
        [
            colored_noise(rng, clip_samples, colors[i % len(colors)])
            for i in range(_NOISE_BANK_CLIPS)
        ]
    )


def shift_in_time(clips: tf.Tensor, max_shift: int) -> tf.Tensor:
    """Shifts each clip by a random number of samples in `[-max_shift, max_shift]`, zero-filled."""
    batch, length = tf.shape(clips)[0], tf.shape(clips)[1]
    shifts = tf.random.uniform((batch, 1), -max_shift, max_shift + 1, dtype=tf.int32)
    source = tf.range(length)[None, :] - shifts
    inside = (source >= 0) & (source < length)
    moved = tf.gather(clips, tf.clip_by_value(source, 0, length - 1), batch_dims=1)
    return tf.where(inside, moved, tf.zeros_like(moved))


def mix_noise(
    clips: tf.Tensor, bank: tf.Tensor, probability: float, snr_db: tuple[float, ...]
) -> tf.Tensor:
    """Adds a random bank clip to each clip (with `probability`) at a random SNR to the clip."""
    batch = tf.shape(clips)[0]
    noise = tf.gather(bank, tf.random.uniform((batch,), 0, tf.shape(bank)[0], dtype=tf.int32))
    snr = tf.random.uniform((batch, 1), snr_db[0], snr_db[1])
    power = tf.sqrt(tf.reduce_mean(tf.square(clips), axis=1, keepdims=True))
    # Clips of digital silence still get a little noise (their "signal" is the floor).
    gain = tf.maximum(power, 1e-4) / 10.0 ** (snr / 20.0)
    mixed = tf.cast(tf.random.uniform((batch, 1)) < probability, clips.dtype)
    return tf.clip_by_value(clips + mixed * gain * noise, -1.0, 1.0)


@register_task
class KeywordSpotting(ClassificationTask):
    """Classifies a clip of raw audio into the dataset's keywords."""

    name = "keyword_spotting"
    data_kind = "audio"
    models = KEYWORD_MODELS
    default_model = "ds_cnn"
    explain_input = "spectrogram"
    explain_methods = ("gradient", "smoothgrad", "integrated_gradients", "grad_cam")
    explain_examples = 16
    default_baselines: ClassVar[tuple[str, ...]] = ("xgboost", "linear", "dummy")
    front_end_layers: ClassVar[tuple[str, ...]] = ("mel_spectrogram", SPECTROGRAM_LAYER)

    def __init__(self, model, spec):
        super().__init__(model, spec)
        self.schema = audio_schema(spec)
        self._noise = tf.constant(noise_bank(self.schema.clip_samples, seed=0))

    def preprocess(self, x: tf.Tensor, y: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        """Scales int16 samples to [-1, 1] and pads (trailing silence) or crops to the clip."""
        clip = tf.cast(x, tf.float32)
        if x.dtype == tf.int16:
            clip = clip / 32768.0
        length = self.schema.clip_samples
        clip = clip[:length]
        clip = tf.pad(clip, [[0, length - tf.shape(clip)[0]]])
        clip.set_shape([length])
        return clip, tf.cast(y, tf.int32)

    def augment_batch(self, x: tf.Tensor, y: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        """Random time shift, then background noise at a random SNR."""
        options = self.model_config.options
        max_shift = round(self.schema.sample_rate * options.time_shift_ms / 1000)
        if max_shift > 0:
            x = shift_in_time(x, max_shift)
        if options.noise_probability > 0:
            x = mix_noise(x, self._noise, options.noise_probability, options.noise_snr_db)
        return x, y

    def edge_input(self) -> dict[str, Any]:
        """A WAV file: decoded, mixed to mono, resampled, fitted to the clip (`edge.audio_io`)."""
        return {
            "kind": "audio",
            **self.schema.to_json(),
            "format": "WAV (any rate, channels and sample format)",
            "fit": "mono mean of the channels; polyphase resampling; trailing silence pads a "
            "short clip, a long one is cropped to its loudest window",
            "scaling": "none: feed float32 samples in [-1, 1]; the model computes its log-mel "
            "spectrogram",
        }

    def reference_input(self) -> np.ndarray:
        """A clip of digital silence."""
        return np.zeros(self.schema.clip_samples, dtype=np.float32)

    def explanation_subject(self, model: keras.Model, inputs: np.ndarray) -> ExplanationSubject:
        """The classifier after the front end, over the clips' log-mel spectrograms.

        Saliency over raw samples is unreadable; over the spectrogram it shows
        which times and frequencies decided (see `SpectrogramSpace`).
        """
        space = SpectrogramSpace(model)
        fill = space.spectrograms(self.reference_input()[np.newaxis])[0]
        return ExplanationSubject(space.back, space.spectrograms(inputs), fill)

    def log_mel(self, clips: np.ndarray) -> np.ndarray:
        """`(clips, frames, mels)` log-mel spectrograms, as the model's front end computes them."""
        settings = front_end_settings(self.model_config.options, self.schema)
        front = keras.Sequential([layers.MelSpectrogram(**settings), LogMel()])
        parts = [
            np.asarray(front(clips[start : start + 512]))[..., 0]
            for start in range(0, len(clips), 512)
        ]
        return np.concatenate(parts)

    def baseline_features(self, split: Split) -> pd.DataFrame:
        """Per mel band and MFCC: mean and standard deviation over time, of values and deltas."""
        clips = np.concatenate(
            [
                clip
                for clip, _ in split.make_dataset()
                .map(self.preprocess, num_parallel_calls=tf.data.AUTOTUNE)
                .batch(1024)
                .as_numpy_iterator()
            ]
        )
        return summary_features(self.log_mel(clips))


class SpectrogramSpace:
    """A keyword model split at its spectrogram: `front(audio)` and `back(spectrogram)`.

    The front end is fixed signal processing, so explaining the back (the
    nested classifier model) is explaining everything the model learned.

    Args:
        model: a keyword model (`with_front_end`).

    Raises:
        ValueError: when the model lacks the front end or the classifier.
    """

    def __init__(self, model: keras.Model):
        try:
            layer = model.get_layer(SPECTROGRAM_LAYER)
            self.back = model.get_layer(CLASSIFIER_LAYER)
        except ValueError:
            raise ValueError(
                f"The model lacks a layer '{SPECTROGRAM_LAYER}' or a nested model "
                f"'{CLASSIFIER_LAYER}', so it cannot be explained over its spectrogram. Keyword "
                "models built by tasklab have both."
            ) from None
        self.front = keras.Model(model.inputs[0], layer.output, name="front_end")

    def spectrograms(self, audio: np.ndarray, batch_size: int = 256) -> np.ndarray:
        """`(clips, frames, mels, 1)` log-mel spectrograms of raw clips.

        Direct calls, batch by batch: `predict` would retrace for each new number of clips.
        """
        parts = [
            np.asarray(self.front(audio[start : start + batch_size], training=False))
            for start in range(0, len(audio), batch_size)
        ]
        flat = np.concatenate(parts)
        return flat.reshape(len(audio), *self.front.output.shape[1:]).astype(np.float32)


def summary_features(log_mel: np.ndarray) -> pd.DataFrame:
    """Summary statistics of `(clips, frames, mels)` log-mel spectrograms, one row per clip.

    The classic clip-level features for keyword and sound classification:
    the mean and standard deviation over time of each log-mel band and of
    the first MFCCs (DCT-II of the log-mel bands), and of their deltas
    (frame-to-frame differences).

    Returns:
        One column per statistic, e.g. `mel_3_mean`, `mfcc_0_delta_std`.
    """
    mfcc = scipy.fft.dct(log_mel, type=2, norm="ortho", axis=-1)[..., :MFCC_COEFFICIENTS]
    columns = {}
    for name, values in (("mel", log_mel), ("mfcc", mfcc)):
        deltas = np.diff(values, axis=1)
        for statistic, series in (("", values), ("_delta", deltas)):
            for band in range(values.shape[-1]):
                columns[f"{name}_{band}{statistic}_mean"] = series[:, :, band].mean(axis=1)
                columns[f"{name}_{band}{statistic}_std"] = series[:, :, band].std(axis=1)
    return pd.DataFrame(columns).astype(np.float32)
