"""Audio data: folders of WAV files in every format, speaker-disjoint splits, noise, tfds."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import tensorflow_datasets as tfds
from scipy.io import wavfile

from tasklab.core.config import AudioConfig, DataConfig, parse_model_config
from tasklab.data import DataError, load_dataset
from tasklab.data.audio import colored_noise, group_split
from tasklab.tasks.keyword_spotting import KeywordSpotting

RATE = 16000


def tone(frequency: float, rate: int, seconds: float) -> np.ndarray:
    return 0.5 * np.sin(2 * np.pi * frequency * np.arange(round(rate * seconds)) / rate)


def write_class_folder(root, name: str, frequency: float, count: int = 4) -> None:
    folder = root / name
    folder.mkdir(parents=True)
    for index in range(count):
        # A few hertz apart: identical files would be kept once (no copy in two splits).
        clip = tone(frequency + 4 * index, RATE, 0.5)
        wavfile.write(folder / f"{index}.wav", RATE, (clip * 32767).astype(np.int16))


def audio_config(root, **changes) -> DataConfig:
    return DataConfig(uri=f"folder:{root}", val_fraction=0.25, test_fraction=0.25, **changes)


def test_a_folder_of_mixed_formats_loads_as_equal_length_mono_clips(tmp_path):
    write_class_folder(tmp_path, "low", 300)
    write_class_folder(tmp_path, "high", 2000)
    odd = tmp_path / "high"
    stereo = np.stack([tone(2000, 44100, 0.5)] * 2, axis=1).astype(np.float32)
    wavfile.write(odd / "stereo_44k.wav", 44100, stereo)
    wavfile.write(odd / "eight_bit.wav", 8000, (tone(2000, 8000, 0.5) * 127 + 128).astype(np.uint8))
    wavfile.write(odd / "long.wav", RATE, (tone(2000, RATE, 3.0) * 32767).astype(np.int16))
    wavfile.write(tmp_path / "low" / "silence.wav", RATE, np.zeros(RATE, np.int16))
    (tmp_path / "low" / "readme.txt").write_text("not audio", encoding="utf-8")

    dataset = load_dataset(audio_config(tmp_path), seed=0, kind="audio")

    assert dataset.spec.kind == "audio" and dataset.spec.class_names == ("high", "low")
    assert dataset.spec.example_shape == (RATE,)
    clips = [clip for split in (dataset.train, dataset.val, dataset.test)
             for clip, _ in split.make_dataset().as_numpy_iterator()]  # fmt: skip
    assert len(clips) == 12 and all(clip.shape == (RATE,) for clip in clips)
    notes = " ".join(dataset.notes)
    assert "1 clip(s) longer than data.audio.clip_seconds=1 were cropped" in notes
    assert "1 clip(s) are digital silence" in notes
    assert "Ignored 1 file(s) that are not .wav" in notes


def test_an_empty_or_non_audio_file_is_named_and_can_be_skipped(tmp_path):
    write_class_folder(tmp_path, "a", 300)
    write_class_folder(tmp_path, "b", 900)
    (tmp_path / "a" / "zero.wav").write_bytes(b"")
    (tmp_path / "b" / "fake.wav").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(64))

    with pytest.raises(
        DataError, match=r"2 audio file\(s\).*zero\.wav is empty.*fake\.wav is not a WAV"
    ):
        load_dataset(audio_config(tmp_path), seed=0, kind="audio")

    dataset = load_dataset(audio_config(tmp_path, skip_corrupt=True), seed=0, kind="audio")
    assert sum(dataset.split_sizes().values()) == 8
    assert any("Skipped 2 unreadable audio file(s)" in note for note in dataset.notes)


def test_a_class_with_only_unreadable_files_is_an_error(tmp_path):
    write_class_folder(tmp_path, "a", 300)
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "zero.wav").write_bytes(b"")

    with pytest.raises(DataError, match=r"\['b'\].*no readable WAV files"):
        load_dataset(audio_config(tmp_path, skip_corrupt=True), seed=0, kind="audio")


def test_clips_are_resampled_to_the_configured_rate(tmp_path):
    write_class_folder(tmp_path, "a", 300)
    write_class_folder(tmp_path, "b", 900)
    config = audio_config(tmp_path, audio=AudioConfig(sample_rate=8000, clip_seconds=0.5))

    dataset = load_dataset(config, seed=0, kind="audio")

    clip, _ = next(dataset.train.make_dataset().as_numpy_iterator())
    assert clip.shape == (4000,)
    frequency = np.fft.rfftfreq(4000, 1 / 8000)[np.argmax(np.abs(np.fft.rfft(clip)))]
    assert min(abs(frequency - 300), abs(frequency - 900)) <= 12  # Files are 4 Hz apart.


def test_group_split_never_puts_a_speaker_in_two_splits():
    groups = np.repeat([f"speaker{i}" for i in range(20)], 12)

    train, val, test = group_split(groups, (0.1, 0.2), seed=3)

    parts = [set(groups[part]) for part in (train, val, test)]
    assert [len(part) for part in parts] == [14, 2, 4]
    assert not (parts[0] & parts[1] or parts[0] & parts[2] or parts[1] & parts[2])
    assert sorted(np.concatenate([train, val, test]).tolist()) == list(range(len(groups)))


def test_group_split_needs_three_speakers():
    with pytest.raises(DataError, match="at least 3 speakers"):
        group_split(np.array(["a", "a", "b"]), (0.1, 0.2), seed=0)


@pytest.mark.parametrize(("color", "slope"), [("white", 0.0), ("pink", -1.0), ("brown", -2.0)])
def test_colored_noise_has_unit_rms_and_its_spectral_slope(color, slope):
    noise = colored_noise(np.random.default_rng(0), 2**16, color)

    power = np.abs(np.fft.rfft(noise))[1:] ** 2
    frequencies = np.arange(1, len(power) + 1)
    bands = np.logspace(1, np.log10(len(power)), 12).astype(int)
    band_power = [power[a:b].mean() for a, b in itertools.pairwise(bands)]
    fitted = np.polyfit(np.log(frequencies[bands[:-1]]), np.log(band_power), 1)[0]
    assert np.sqrt(np.mean(noise**2)) == pytest.approx(1.0, rel=1e-4)
    assert fitted == pytest.approx(slope, abs=0.2)


def test_speech_commands_loads_offline_and_clips_are_fitted_by_the_task(tmp_path):
    # Mock data has no split metadata: val and test are carved from 300 random examples.
    with tfds.testing.mock_data(num_examples=300):
        dataset = load_dataset(
            DataConfig(uri="tfds:speech_commands", tfds_data_dir=str(tmp_path)),
            seed=0,
            kind="audio",
        )
        task = KeywordSpotting(parse_model_config("keyword_spotting", {}), dataset.spec)
        clips = [
            clip
            for clip, _ in dataset.train.make_dataset()
            .map(task.preprocess)
            .take(4)
            .as_numpy_iterator()
        ]
    assert dataset.spec.kind == "audio" and len(dataset.spec.class_names) == 12
    assert "_silence_" in dataset.spec.class_names and "yes" in dataset.spec.class_names
    assert all(clip.shape == (RATE,) and clip.dtype == np.float32 for clip in clips)
    assert all(np.abs(clip).max() <= 1.0 for clip in clips)


def test_speech_commands_at_another_rate_is_refused_with_the_fix(tmp_path):
    config = DataConfig(
        uri="tfds:speech_commands", tfds_data_dir=str(tmp_path), audio=AudioConfig(sample_rate=8000)
    )
    with (
        tfds.testing.mock_data(num_examples=12),
        pytest.raises(DataError, match=r"recorded at 16000 Hz.*data\.audio\.sample_rate: 16000"),
    ):
        load_dataset(config, seed=0, kind="audio")
