"""The keyword spotting task: front end, augmentation, models, baseline features."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from tasklab.core.config import AudioConfig, ConfigError, parse_model_config
from tasklab.data.audio import audio_spec
from tasklab.tasks.keyword_spotting import (
    SPECTROGRAM_LAYER,
    KeywordSpotting,
    SpecAugment,
    mix_noise,
    shift_in_time,
    summary_features,
)

CLASSES = tuple(f"word{i}" for i in range(12))
SPEC = audio_spec(CLASSES, AudioConfig())


def make_task(**options) -> KeywordSpotting:
    return KeywordSpotting(parse_model_config("keyword_spotting", options), SPEC)


def tone(frequency: float, seconds: float = 1.0, amplitude: float = 0.5) -> np.ndarray:
    return (
        amplitude * np.sin(2 * np.pi * frequency * np.arange(int(16000 * seconds)) / 16000)
    ).astype(np.float32)


@pytest.mark.parametrize("name", ["ds_cnn", "cnn"])
def test_models_fit_a_microcontroller_budget_and_take_raw_audio(name):
    model = make_task(name=name).build_model()

    assert model.count_params() <= 100_000
    assert model.input_shape == (None, 16000)
    assert model.get_layer(SPECTROGRAM_LAYER).output.shape == (None, 51, 40, 1)


def test_the_log_mel_of_a_clip_does_not_depend_on_its_batch():
    model = make_task().build_model()
    front = keras.Model(model.inputs[0], model.get_layer(SPECTROGRAM_LAYER).output)
    quiet, loud = tone(440, amplitude=0.01), tone(1000, amplitude=1.0)

    alone = np.asarray(front(quiet[None]))
    batched = np.asarray(front(np.stack([quiet, loud])))

    np.testing.assert_allclose(batched[0], alone[0], atol=1e-5)


def test_inference_is_deterministic_and_training_masks_the_spectrogram():
    model = make_task().build_model()
    clips = np.stack([tone(440), tone(880)])
    np.testing.assert_array_equal(np.asarray(model(clips)), np.asarray(model(clips)))

    spectrogram = tf.random.normal((4, 51, 40, 1))
    augment = SpecAugment(time_masks=1, max_frames=10, frequency_masks=1, max_bands=8, seed=1)
    np.testing.assert_array_equal(augment(spectrogram, training=False), spectrogram)
    masked = np.asarray(augment(spectrogram, training=True))
    changed = masked != np.asarray(spectrogram)
    assert changed.any()
    for example in range(4):
        rows = changed[example, :, :, 0].all(axis=1).sum()  # Frames masked across every band.
        columns = changed[example, :, :, 0].all(axis=0).sum()  # Bands masked across every frame.
        assert rows <= 10 and columns <= 8


def test_time_shift_moves_each_clip_within_the_limit_and_fills_with_zeros():
    clips = np.zeros((32, 1000), np.float32)
    clips[:, 500] = 1.0

    shifted = shift_in_time(tf.constant(clips), max_shift=100).numpy()

    positions = shifted.argmax(axis=1)
    assert np.all(np.abs(positions - 500) <= 100) and len(set(positions)) > 1
    np.testing.assert_array_equal(shifted.sum(axis=1), np.ones(32))


def test_noise_is_mixed_at_an_snr_in_the_configured_range():
    clips = np.tile(tone(440, 0.5), (64, 1))
    bank = tf.constant(np.random.default_rng(0).standard_normal((4, 8000)).astype(np.float32))

    mixed = mix_noise(tf.constant(clips), bank, probability=1.0, snr_db=(5.0, 20.0)).numpy()

    noise = mixed - clips
    snr = 10 * np.log10(np.mean(clips**2, axis=1) / np.mean(noise**2, axis=1))
    assert snr.min() > 4.0 and snr.max() < 21.0 and snr.std() > 1.0


def test_preprocess_scales_int16_and_fits_the_clip_length():
    task = make_task()
    short = (tone(440, 0.5) * 32767).astype(np.int16)
    long = tone(440, 1.5)

    padded, label = task.preprocess(tf.constant(short), tf.constant(3))
    cropped, _ = task.preprocess(tf.constant(long), tf.constant(3))

    assert padded.shape == (16000,) and cropped.shape == (16000,) and int(label) == 3
    np.testing.assert_allclose(padded.numpy()[:8000], short / 32768.0, atol=1e-6)
    assert not np.any(padded.numpy()[8000:])


def test_summary_features_find_a_tone_in_its_band_and_no_change_over_time():
    task = make_task()
    log_mel = task.log_mel(np.stack([tone(300), tone(3000)]))

    features = summary_features(log_mel)

    assert features.shape == (2, 2 * 2 * (40 + 13))
    means = features[[f"mel_{band}_mean" for band in range(40)]].to_numpy()
    assert means[0].argmax() < means[1].argmax()  # The higher tone sits in a higher band.
    deltas = features[[f"mel_{band}_delta_mean" for band in range(40)]].to_numpy()
    assert np.abs(deltas).max() < 0.5  # A steady tone barely changes from frame to frame.


def test_bad_model_options_are_named():
    with pytest.raises(ConfigError, match="noise_snr_db"):
        make_task(noise_snr_db=[20, 5])
    with pytest.raises(ConfigError, match="stride_ms"):
        make_task(stride_ms=50, window_ms=30)


def test_edge_input_describes_the_clip_a_device_must_feed():
    described = make_task().edge_input()

    assert described["kind"] == "audio"
    assert described["sample_rate"] == 16000 and described["clip_samples"] == 16000
