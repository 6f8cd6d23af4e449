"""Speech models explained over their log-mel spectrogram (the model split at its front end)."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from tasklab.core.config import AudioConfig, parse_model_config
from tasklab.data.audio import audio_spec
from tasklab.explain.base import ExplainOptions
from tasklab.explain.gradients import completeness_error, grad_cam, integrated_gradients
from tasklab.tasks.keyword_spotting import KeywordSpotting, SpectrogramSpace

SPEC = audio_spec(("a", "b", "c"), AudioConfig(sample_rate=8000, clip_seconds=0.5))


@pytest.fixture(scope="module")
def model_and_clips():
    keras.utils.set_random_seed(0)
    task = KeywordSpotting(parse_model_config("keyword_spotting", {"name": "ds_cnn"}), SPEC)
    model = task.build_model()
    clips = np.random.default_rng(0).normal(0, 0.1, size=(4, 4000)).astype(np.float32)
    return task, model, clips


def test_front_then_back_is_the_whole_model(model_and_clips):
    _, model, clips = model_and_clips
    space = SpectrogramSpace(model)

    spectrograms = space.spectrograms(clips)

    assert spectrograms.shape == (4, 26, 40, 1)
    np.testing.assert_allclose(
        np.asarray(space.back(spectrograms)), np.asarray(model(clips)), rtol=1e-5, atol=1e-6
    )


def test_grad_cam_and_integrated_gradients_work_over_the_spectrogram(model_and_clips):
    task, model, clips = model_and_clips
    space = SpectrogramSpace(model)
    spectrograms = space.spectrograms(clips)
    silence = space.spectrograms(task.reference_input()[None])[0]
    targets = np.asarray(model(clips)).argmax(axis=1)
    options = ExplainOptions(batch_size=32, ig_steps=32, reference=silence)

    cam = grad_cam(space.back, spectrograms, targets, options)
    paths = integrated_gradients(space.back, spectrograms, targets, options)

    assert cam.values.shape == spectrograms.shape and np.all(cam.values >= 0)
    assert paths.values.shape == spectrograms.shape
    assert completeness_error(paths).max() <= 0.05


def test_a_model_without_a_front_end_is_refused_with_the_reason():
    inputs = keras.Input((10,))
    plain = keras.Model(inputs, keras.layers.Dense(2)(inputs))

    with pytest.raises(ValueError, match=r"log_mel.*classifier"):
        SpectrogramSpace(plain)


def test_the_task_explains_its_classifier_over_spectrograms_from_silence(model_and_clips):
    task, model, clips = model_and_clips
    subject = task.explanation_subject(model, clips)
    space = SpectrogramSpace(model)

    assert subject.model is space.back
    np.testing.assert_allclose(subject.inputs, space.spectrograms(clips))
    np.testing.assert_allclose(subject.fill, space.spectrograms(np.zeros((1, 4000), np.float32))[0])
