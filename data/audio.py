"""Audio data: fixed-length mono clips at one sample rate, from folders and generated noise.

Every source yields clips of `AudioSchema.clip_samples` samples (int16 or
float32; the task scales them to [-1, 1]). Folder audio is decoded and
resampled once, with the same numpy code the edge runner uses
(`tasklab.edge.audio_io`), and held in memory: an hour of 16 kHz audio is 115 MB
as int16.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import time
from pathlib import Path
from typing import Any

import numpy as np

from tasklab.core.config import AudioConfig, DataConfig
from tasklab.data.base import DataError, Dataset, DataSpec, array_dataset, split_indices
from tasklab.data.folder import (
    ignored_note,
    index_class_folders,
    skip_unreadable,
    without_duplicates,
)
from tasklab.edge.audio_io import (
    AUDIO_SUFFIXES,
    AudioError,
    decode_wav,
    fit_clip,
    read_audio_bytes,
)

logger = logging.getLogger(__name__)

NOISE_COLORS = {"white": 0.0, "pink": 1.0, "brown": 2.0}  # Power falls as 1 / f**exponent.
_PROGRESS_SECONDS = 10.0


@dataclasses.dataclass(frozen=True)
class AudioSchema:
    """What every clip of an audio dataset is (the task builds its front end from it).

    Attributes:
        sample_rate: samples per second.
        clip_samples: samples per clip.
    """

    sample_rate: int
    clip_samples: int

    def to_json(self) -> dict[str, Any]:
        """JSON data for the edge bundle."""
        return {"sample_rate": self.sample_rate, "clip_samples": self.clip_samples}


def audio_spec(class_names: tuple[str, ...], audio: AudioConfig) -> DataSpec:
    """The `DataSpec` of clips made with the `data.audio` settings."""
    schema = AudioSchema(audio.sample_rate, audio.clip_samples)
    return DataSpec(
        kind="audio",
        class_names=class_names,
        example_shape=(schema.clip_samples,),
        schema=schema,
    )


def colored_noise(rng: np.random.Generator, samples: int, color: str) -> np.ndarray:
    """Gaussian noise of unit RMS with a white, pink or brown spectrum.

    Args:
        rng: the random source.
        samples: its length.
        color: a key of `NOISE_COLORS`.

    Returns:
        float32 noise, `(samples,)`.
    """
    spectrum = np.fft.rfft(rng.standard_normal(samples))
    frequencies = np.arange(len(spectrum), dtype=np.float64)
    frequencies[0] = 1.0  # Keeps the DC bin finite; it is zeroed below.
    spectrum *= frequencies ** (-NOISE_COLORS[color] / 2.0)
    spectrum[0] = 0.0
    noise = np.fft.irfft(spectrum, n=samples)
    return (noise / max(float(np.sqrt(np.mean(noise**2))), 1e-12)).astype(np.float32)


def rms(samples: np.ndarray) -> float:
    """The root mean square of the samples."""
    return float(np.sqrt(np.mean(np.square(samples, dtype=np.float64))))


def to_int16(clip: np.ndarray) -> np.ndarray:
    """Float samples in [-1, 1] as int16 PCM (clipped)."""
    return np.clip(np.rint(clip * 32767.0), -32768, 32767).astype(np.int16)


def group_split(groups: np.ndarray, fractions: tuple[float, float], seed: int) -> list[np.ndarray]:
    """Splits examples so that each group (a speaker) falls in one part only.

    Args:
        groups: the group of every example.
        fractions: `(val, test)`: the fraction of the groups each part gets
            (at least one group each).
        seed: seeds which groups go where.

    Returns:
        Sorted index arrays: train, val, test.

    Raises:
        DataError: with fewer than 3 groups.
    """
    names = np.unique(groups)
    if len(names) < 3:
        raise DataError(
            f"Splitting by speaker needs at least 3 speakers (one per split); found "
            f"{len(names)}. Add voices or variants."
        )
    order = np.random.default_rng(seed).permutation(names)
    val_count, test_count = (max(1, round(f * len(names))) for f in fractions)
    if val_count + test_count >= len(names):
        val_count = test_count = 1
    test_groups = order[:test_count]
    val_groups = order[test_count : test_count + val_count]
    in_test, in_val = np.isin(groups, test_groups), np.isin(groups, val_groups)
    return [np.flatnonzero(~in_test & ~in_val), np.flatnonzero(in_val), np.flatnonzero(in_test)]


def load_audio_folder(uri: str, path: str, config: DataConfig, seed: int) -> Dataset:
    """`folder:PATH` for audio: one sub-folder of WAV files per class.

    Each file is decoded, mixed to mono, resampled to `data.audio.sample_rate`
    and padded or cropped (to its loudest window) to `data.audio.clip_seconds`;
    the notes count what was resampled, mixed down, padded and cropped. An
    empty or undecodable file is an error naming it, or is skipped with
    `data.skip_corrupt: true`. Byte-identical files are kept once (or left
    out, under different classes), so that no clip is in two splits.

    Args:
        uri: the dataset URI.
        path: the root folder.
        config: the data section.
        seed: seeds the stratified split.

    Returns:
        The dataset, its clips in memory as float32.
    """
    root = Path(path).expanduser()
    class_names, files, labels, ignored = index_class_folders(root, AUDIO_SUFFIXES, "WAV files")
    notes = ignored_note(ignored, root, ".wav")
    clips, kept, digests, corrupt, cropped = read_clips(files, config.audio)
    notes += skip_unreadable(corrupt, root, "audio", "could not be read", config.skip_corrupt)
    labels = labels[kept]
    lost = [name for index, name in enumerate(class_names) if not np.any(labels == index)]
    if lost:
        raise DataError(
            f"The class folder(s) {lost} in '{root}' hold no readable WAV files. Add some to "
            "them or remove the folders."
        )
    read = [files[i] for i in kept]
    unique, labels, duplicate_notes = without_duplicates(
        read, labels, digests, root, class_names, what="WAV files"
    )
    notes.extend(duplicate_notes)
    if len(unique) < len(read):
        position = {file: i for i, file in enumerate(read)}
        keep = np.asarray([position[file] for file in unique], dtype=np.int64)
        clips, cropped = clips[keep], cropped[keep]
    notes.extend(clip_notes(clips, cropped, config.audio))
    fractions = (config.val_fraction, config.test_fraction)
    parts = split_indices(labels, fractions, seed, class_names)
    return array_dataset(uri, audio_spec(class_names, config.audio), clips, labels, parts, notes)


def read_clips(
    files: list[Path], audio: AudioConfig
) -> tuple[np.ndarray, np.ndarray, list[str], list[str], np.ndarray]:
    """Reads every file as a clip, logging progress on long folders.

    Returns:
        The clips `(kept, clip_samples)` float32, the indices of the files
        kept, a digest of each kept file's bytes, why each unreadable file
        could not be read (naming it), and whether each clip was cropped.
    """
    clips, kept, digests, corrupt, cropped = [], [], [], [], []
    last_log = time.monotonic()
    for index, file in enumerate(files):
        try:
            content = read_audio_bytes(file)
            samples = decode_wav(content, audio.sample_rate, str(file))
        except OSError as error:
            corrupt.append(f"'{file}' cannot be read ({error.strerror}).")
            continue
        except AudioError as error:
            corrupt.append(str(error))
            continue
        clip, was_cropped = fit_clip(samples, audio.clip_samples)
        clips.append(clip)
        kept.append(index)
        digests.append(hashlib.sha256(content).hexdigest())
        cropped.append(was_cropped)
        if time.monotonic() - last_log > _PROGRESS_SECONDS:
            logger.info("Read %d of %d audio files", index + 1, len(files))
            last_log = time.monotonic()
    empty = np.zeros((0, audio.clip_samples), np.float32)
    return (
        np.stack(clips) if clips else empty,
        np.asarray(kept, int),
        digests,
        corrupt,
        np.asarray(cropped, bool),
    )


def clip_notes(clips: np.ndarray, cropped: np.ndarray, audio: AudioConfig) -> list[str]:
    """What loading did to the clips, for the data notes.

    Args:
        clips: the clips kept, `(count, clip_samples)`.
        cropped: whether each was cropped.
        audio: the `data.audio` settings.

    Returns:
        The notes.
    """
    count, silent = len(clips), int(np.sum(~np.any(clips, axis=1)))
    cropped = int(np.sum(cropped))
    notes = [
        f"{count} clips of {audio.clip_seconds:g} s at {audio.sample_rate} Hz mono (resampled "
        "and mixed down where needed; shorter ones padded with silence)."
    ]
    if cropped:
        notes.append(
            f"{cropped} clip(s) longer than data.audio.clip_seconds={audio.clip_seconds:g} were "
            "cropped to their loudest window; raise clip_seconds to keep more."
        )
    if silent:
        notes.append(f"{silent} clip(s) are digital silence (all samples zero).")
    return notes
