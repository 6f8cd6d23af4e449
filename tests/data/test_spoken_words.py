"""builtin:spoken_words: espeak-ng synthesis, deterministic, cached, split by voice variant."""

from __future__ import annotations

import numpy as np
import pytest

from tasklab.core.config import ConfigError, DataConfig
from tasklab.core.source_options import SpokenWordsOptions
from tasklab.data import DataError, load_dataset, spoken_words

ACCENTS = ("gmw/en-US", "gmw/en-GB-x-rp")
VARIANTS = ("none", "f2", "m3", "Alicia")


def small_config(cache_dir, **changes) -> DataConfig:
    synthesis = SpokenWordsOptions(
        keywords=("yes", "no"),
        unknown_words=("cat", "dog"),
        accents=ACCENTS,
        variants=VARIANTS,
        cache_dir=str(cache_dir),
        **changes,
    )
    return DataConfig(uri="builtin:spoken_words", synthesis=synthesis)


def all_clips(dataset) -> dict[str, np.ndarray]:
    return {
        name: np.stack([clip for clip, _ in split.make_dataset().as_numpy_iterator()])
        for name, split in (("train", dataset.train), ("val", dataset.val), ("test", dataset.test))
    }


def test_every_speaker_says_every_class_and_splits_keep_variants_apart(tmp_path):
    dataset = load_dataset(small_config(tmp_path), seed=0, kind="audio")

    assert dataset.spec.class_names == ("yes", "no", "unknown", "silence")
    assert dataset.spec.example_shape == (16000,)
    assert dataset.split_sizes() == {"train": 16, "val": 8, "test": 8}  # 2 accents x 4 classes each
    for labels in (dataset.train.labels, dataset.val.labels, dataset.test.labels):
        assert np.bincount(labels, minlength=4).tolist() == [len(labels) // 4] * 4
    notes = " ".join(dataset.notes)
    assert "2 English accents x 4 voice variants = 8 speakers; 32 clips" in notes
    assert "Split by voice variant" in notes and dataset.resplit is None


def test_spoken_clips_are_loud_and_silence_clips_only_quiet_noise(tmp_path):
    dataset = load_dataset(small_config(tmp_path), seed=0, kind="audio")

    clips, labels = zip(*dataset.train.make_dataset().as_numpy_iterator(), strict=True)
    clips, labels = np.stack(clips).astype(np.float32) / 32768, np.array(labels)
    assert np.all(np.abs(clips[labels != 3]).max(axis=1) >= 0.2)
    assert np.all(np.sqrt(np.mean(clips[labels == 3] ** 2, axis=1)) <= 0.1 + 1e-4)  # <= -20 dBFS


def test_a_word_is_placed_whole_with_noise_at_the_drawn_snr():
    rng = np.random.default_rng(0)
    word = np.sin(np.arange(4000) / 5.0).astype(np.float32)  # A 0.25 s "word".

    clip = spoken_words.place_in_clip(word, rng, 16000, (10.0, 10.0))

    start = int(np.argmax(np.correlate(clip, word, mode="valid")))
    placed = clip[start : start + 4000]
    scale = np.dot(placed, word) / np.dot(word, word)
    noise = np.concatenate([clip[:start], clip[start + 4000 :]])
    snr = 10 * np.log10(np.mean((scale * word) ** 2) / np.mean(noise**2))
    assert 0.25 <= scale * np.abs(word).max() <= 0.9
    assert snr == pytest.approx(10.0, abs=0.5)


def test_generation_is_deterministic_and_read_back_from_the_cache(tmp_path, monkeypatch):
    first = all_clips(load_dataset(small_config(tmp_path / "a"), seed=0, kind="audio"))
    second = all_clips(load_dataset(small_config(tmp_path / "b"), seed=0, kind="audio"))
    for name in first:
        np.testing.assert_array_equal(first[name], second[name])

    def no_synthesis(*args, **kwargs):
        raise AssertionError("the cache should have been read")

    monkeypatch.setattr(spoken_words, "speaker_clips", no_synthesis)
    cached = load_dataset(small_config(tmp_path / "a"), seed=0, kind="audio")
    np.testing.assert_array_equal(all_clips(cached)["test"], first["test"])
    assert any("Read the synthesized clips" in note for note in cached.notes)


def test_other_parameters_make_another_cache_entry(tmp_path):
    load_dataset(small_config(tmp_path), seed=0, kind="audio")
    load_dataset(small_config(tmp_path, seed=1), seed=0, kind="audio")

    assert len([entry for entry in tmp_path.iterdir() if not entry.name.startswith(".")]) == 2


def test_an_accent_espeak_cannot_speak_is_named_with_the_installed_ones(tmp_path):
    config = small_config(tmp_path)
    bad = DataConfig(
        uri=config.uri,
        synthesis=SpokenWordsOptions(accents=("gmw/en-XX",), cache_dir=str(tmp_path)),
    )
    with pytest.raises(DataError, match=r"gmw/en-XX.*Installed: \[.*gmw/en-US"):
        load_dataset(bad, seed=0, kind="audio")


def test_an_unknown_variant_is_named(tmp_path):
    bad = DataConfig(
        uri="builtin:spoken_words",
        synthesis=SpokenWordsOptions(
            accents=ACCENTS, variants=("none", "Nobody"), cache_dir=str(tmp_path)
        ),
    )
    with pytest.raises(DataError, match=r"\['Nobody'\]"):
        load_dataset(bad, seed=0, kind="audio")


def test_missing_espeak_says_how_to_install_it(tmp_path, monkeypatch):
    monkeypatch.setattr(spoken_words.shutil, "which", lambda name: None)

    with pytest.raises(DataError, match="apt-get install espeak-ng"):
        load_dataset(small_config(tmp_path), seed=0, kind="audio")


def test_a_keyword_among_the_unknown_words_is_a_config_error():
    with pytest.raises(ConfigError, match=r"keywords among them: \['yes'\]"):
        SpokenWordsOptions(keywords=("yes", "no"), unknown_words=("yes", "cat"))


def test_stream_wav_parsing_ignores_the_unset_sizes():
    header = b"RIFF\xff\xff\xff\x7fWAVEfmt " + bytes(4) + bytes(4) + (22050).to_bytes(4, "little")
    header += bytes(8) + b"data\xff\xff\xff\x7f"
    samples, rate = spoken_words.parse_stream_wav(header + np.array([0, 16384], "<i2").tobytes())

    assert rate == 22050 and samples.tolist() == [0.0, 0.5]
