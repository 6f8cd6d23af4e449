"""Hostile WAV files: NaN samples, absurd rates, headers that promise more than they hold."""

from __future__ import annotations

import shutil
import struct
import warnings
from pathlib import Path

import numpy as np
import pytest
from scipy.io import wavfile

from tasklab.core.config import AudioConfig, DataConfig
from tasklab.data import load_dataset
from tasklab.edge.audio_io import MAX_AUDIO_BYTES, AudioError, AudioWarning, read_audio
from tests.hostile.harness import (
    TASKLAB,
    TENSORFLOW_ADDRESS_SPACE,
    assert_refused,
    capped,
    cli,
    quick_config,
)

RATE = 8000


def tone(seconds: float = 0.5, frequency: float = 440.0) -> np.ndarray:
    time = np.arange(int(RATE * seconds)) / RATE
    return (0.5 * np.sin(2 * np.pi * frequency * time)).astype(np.float32)


def write_wav(path: Path, samples: np.ndarray, rate: int = RATE) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    wavfile.write(path, rate, samples)
    return path


def with_rate_field(path: Path, rate: int) -> Path:
    """Rewrites the `fmt ` chunk's sample rate (bytes 24-28 of a canonical WAV)."""
    data = bytearray(path.read_bytes())
    data[24:28] = struct.pack("<I", rate)
    path.write_bytes(bytes(data))
    return path


def speech_folder(root: Path) -> Path:
    for label, frequency in enumerate((300.0, 900.0)):
        for index in range(6):
            write_wav(root / f"word{label}" / f"{index}.wav", tone(frequency=frequency + index))
    return root


def speech_config(tmp_path: Path, root: Path) -> Path:
    data_yaml = (
        f"uri: 'folder:{root}', val_fraction: 0.25, test_fraction: 0.25, "
        "audio: {sample_rate: 8000, clip_seconds: 0.5}"
    )
    return quick_config(tmp_path, "speech", "keyword_spotting", data_yaml)


def nan_samples(path: Path) -> Path:
    samples = tone()
    samples[100:110] = np.nan
    return write_wav(path, samples)


DAMAGES = {
    # name: (damage to word0/0.wav, words the error must name)
    "nan_samples": (nan_samples, ("0.wav", "NaN")),
    "infinite_samples": (
        lambda p: write_wav(p, np.full(4000, np.inf, np.float32)), ("0.wav", "infinite"),
    ),
    "rate_of_one_hertz": (lambda p: with_rate_field(p, 1), ("0.wav", "1 Hz")),
    "rate_of_zero": (lambda p: with_rate_field(p, 0), ("0.wav",)),
    "rate_of_ten_gigahertz": (lambda p: with_rate_field(p, 10**10 % 2**32), ("0.wav", "Hz")),
    "not_a_wav": (lambda p: p.write_bytes(b"ID3" + bytes(100)), ("0.wav", "not a WAV")),
    "empty": (lambda p: p.write_bytes(b""), ("0.wav", "empty")),
    "header_only": (lambda p: p.write_bytes(p.read_bytes()[:20]), ("0.wav",)),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(DAMAGES))
def test_a_damaged_wav_in_a_class_folder_is_one_error_line(case, tmp_path, capfd, earlier_run):
    root = speech_folder(tmp_path / "speech")
    damage, words = DAMAGES[case]
    damage(root / "word0" / "0.wav")
    config = speech_config(tmp_path, root)
    outcome = cli(capfd, "run", str(config), "--runs-dir", str(earlier_run.parent))
    assert_refused(outcome, *words, "skip_corrupt")


def test_a_wav_promising_more_data_than_it_holds_is_named(tmp_path):
    path = write_wav(tmp_path / "short.wav", (tone() * 30000).astype(np.int16))
    path.write_bytes(path.read_bytes()[:-2000])  # The data chunk's size still says 8,000 bytes.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        samples = read_audio(path, RATE)
    assert len(samples) == 3000
    (warning,) = [w for w in caught if issubclass(w.category, AudioWarning)]
    assert str(path) in str(warning.message)


def test_nan_audio_never_reaches_the_edge_runner_model(tmp_path):
    with pytest.raises(AudioError, match="NaN"):
        read_audio(nan_samples(tmp_path / "nan.wav"), RATE)


def test_a_sparse_10_gb_wav_is_refused_unread(tmp_path):
    root = speech_folder(tmp_path / "speech")
    with (root / "word1" / "long.wav").open("wb") as handle:
        handle.truncate(10 << 30)  # Takes no disk; read whole, 10 GB of memory.
    config = speech_config(tmp_path, root)
    command = [*TASKLAB, "run", str(config), "--runs-dir", str(tmp_path / "runs")]
    outcome = capped(command, tmp_path, TENSORFLOW_ADDRESS_SPACE)
    assert_refused(outcome, "long.wav", "10,737,418,240 bytes", "cut it", "skip_corrupt")


def test_the_edge_runner_refuses_a_sparse_wav_unread(tmp_path):
    path = tmp_path / "long.wav"
    with path.open("wb") as handle:
        handle.truncate(MAX_AUDIO_BYTES + 1)
    with pytest.raises(AudioError, match="more than an audio file's"):
        read_audio(path, RATE)


def test_byte_identical_wavs_are_kept_out_of_two_splits(tmp_path):
    root = speech_folder(tmp_path / "speech")
    for index in range(3):  # The same recording three times in one class...
        shutil.copy(root / "word0" / "0.wav", root / "word0" / f"copy{index}.wav")
    shutil.copy(root / "word1" / "1.wav", root / "word0" / "mislabeled.wav")  # ...and across.
    config = DataConfig(
        uri=f"folder:{root}",
        val_fraction=0.25,
        test_fraction=0.25,
        audio=AudioConfig(sample_rate=RATE, clip_seconds=0.5),
    )
    dataset = load_dataset(config, seed=0, kind="audio")
    notes = " ".join(dataset.notes)
    assert "Kept one file of each of 1 set(s) of byte-identical WAV files" in notes
    assert "word0/copy0.wav, word0/copy1.wav, word0/copy2.wav" in notes
    assert "Left out 1 set(s)" in notes and "word0/mislabeled.wav, word1/1.wav" in notes
    assert "11 clips of 0.5 s" in notes  # 12 files + 4 copies - 3 copies - the pair.
    clips = np.concatenate(
        [
            s.make_dataset().batch(64).get_single_element()[0]
            for s in (dataset.train, dataset.val, dataset.test)
        ]
    )
    assert len(np.unique(clips, axis=0)) == len(clips) == 11
