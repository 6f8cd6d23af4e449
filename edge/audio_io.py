"""Reading audio files into fixed-length mono clips, in numpy and scipy only (no TensorFlow).

Training data (`folder:` audio) and the edge runner (`python -m tasklab.edge
BUNDLE clip.wav`) decode audio with these same functions, so a device feeds
the model exactly what it was trained on:

1. read a WAV file of any sample rate, channel count and sample format
   (8-bit unsigned, 16-, 24- and 32-bit integer, 32- and 64-bit float);
2. average the channels to mono;
3. resample to the model's rate (polyphase filtering, `scipy.signal.resample_poly`);
4. pad with silence, or crop to the loudest window, to the clip length.
"""

from __future__ import annotations

import io
import math
import struct
import warnings
from pathlib import Path

import numpy as np
from scipy import signal
from scipy.io import wavfile

AUDIO_SUFFIXES = (".wav",)
_CONVERT_HINT = "Convert it to WAV first, e.g. `ffmpeg -i INPUT -ac 1 -ar 16000 OUTPUT.wav`."


# Rates of real recordings; resampling a header's absurd rate would allocate without end.
MIN_SAMPLE_RATE, MAX_SAMPLE_RATE = 1_000, 384_000
# 23 minutes of 48 kHz 16-bit stereo; decoding takes about 10x this in memory, and a crafted
# sparse file would otherwise be read whole.
MAX_AUDIO_BYTES = 256 << 20


class AudioError(ValueError):
    """An audio file cannot be read; the message names the file, the problem and the fix."""


class AudioWarning(UserWarning):
    """An audio file was read, but not all of it as its header says (the message names it)."""


def read_audio(path: str | Path, sample_rate: int) -> np.ndarray:
    """Reads a WAV file as mono float32 samples in [-1, 1] at `sample_rate`.

    Args:
        path: the WAV file.
        sample_rate: the rate to resample to (Hz).

    Returns:
        1-D float32 samples (any length; see `fit_clip`).

    Raises:
        AudioError: for an empty file, a file that is not WAV, a WAV
            encoding scipy cannot read (compressed WAV, e.g. A-law or ADPCM),
            or a file of more than `MAX_AUDIO_BYTES`.
    """
    path = Path(path)
    return decode_wav(read_audio_bytes(path), sample_rate, str(path))


def read_audio_bytes(path: Path) -> bytes:
    """The bytes of an audio file, refused unread past `MAX_AUDIO_BYTES`.

    Raises:
        AudioError: for a file too large to be a clip's recording.
    """
    size = path.stat().st_size
    if size > MAX_AUDIO_BYTES:
        raise AudioError(
            f"'{path}' is {size:,} bytes, more than an audio file's {MAX_AUDIO_BYTES:,}: cut it "
            "into clips first, e.g. `ffmpeg -i INPUT -f segment -segment_time 60 clip%03d.wav`."
        )
    return path.read_bytes()


def decode_wav(content: bytes, sample_rate: int, name: str = "the audio") -> np.ndarray:
    """Decodes WAV bytes as mono float32 samples at `sample_rate` (see `read_audio`)."""
    if not content:
        raise AudioError(f"{name} is empty (0 bytes). Remove it or replace it with a WAV file.")
    if content[:4] not in (b"RIFF", b"RF64") or content[8:12] != b"WAVE":
        raise AudioError(f"{name} is not a WAV file (no RIFF/WAVE header). {_CONVERT_HINT}")
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", wavfile.WavFileWarning)
            rate, samples = wavfile.read(io.BytesIO(content))
    except (ValueError, EOFError, struct.error) as error:  # struct: a header cut short.
        raise AudioError(f"{name} could not be decoded as WAV ({error}). {_CONVERT_HINT}") from None
    for warning in caught:
        # scipy's own warning names no file ("Reached EOF prematurely"): say which one.
        warnings.warn(f"{name}: {warning.message}; its samples are used", AudioWarning, 2)
    if samples.size == 0:
        raise AudioError(
            f"{name} holds no samples. Remove it or replace it with a longer recording."
        )
    if not MIN_SAMPLE_RATE <= rate <= MAX_SAMPLE_RATE:
        raise AudioError(
            f"{name} says it was recorded at {rate:,} Hz, outside {MIN_SAMPLE_RATE:,} to "
            f"{MAX_SAMPLE_RATE:,} Hz: its header is damaged. {_CONVERT_HINT}"
        )
    if np.issubdtype(samples.dtype, np.floating) and not np.isfinite(samples).all():
        bad = int(np.size(samples) - np.isfinite(samples).sum())
        raise AudioError(
            f"{name} holds {bad:,} NaN or infinite samples: it is damaged (or was written by a "
            "program that failed). Re-record or re-export it."
        )
    return resample(to_mono(as_float(samples)), rate, sample_rate)


def as_float(samples: np.ndarray) -> np.ndarray:
    """PCM samples as float32 in [-1, 1] (8-bit WAV is unsigned, centred on 128)."""
    if samples.dtype == np.uint8:
        return (samples.astype(np.float32) - 128.0) / 128.0
    if np.issubdtype(samples.dtype, np.integer):
        # scipy returns 24-bit WAV left-justified in int32, so one scale serves 24 and 32 bits.
        return samples.astype(np.float32) / float(-np.iinfo(samples.dtype).min)
    return np.clip(samples.astype(np.float32), -1.0, 1.0)


def to_mono(samples: np.ndarray) -> np.ndarray:
    """`(frames,)` or `(frames, channels)` samples as one channel (their mean)."""
    return samples.mean(axis=1, dtype=np.float32) if samples.ndim == 2 else samples


def resample(samples: np.ndarray, rate: int, target_rate: int) -> np.ndarray:
    """Resamples mono samples from `rate` to `target_rate` Hz with a polyphase filter."""
    if rate == target_rate:
        return samples.astype(np.float32, copy=False)
    divisor = math.gcd(int(rate), int(target_rate))
    up, down = target_rate // divisor, rate // divisor
    return signal.resample_poly(samples, up, down).astype(np.float32)


def fit_clip(samples: np.ndarray, length: int, window: int = 160) -> tuple[np.ndarray, bool]:
    """Pads a short clip with trailing silence, or crops a long one to its loudest window.

    A keyword in a long recording is where the energy is, so cropping keeps
    the `length` samples with the most energy (found on `window`-sample
    frames; the first such window wins ties, so silence keeps its start).

    Args:
        samples: mono samples.
        length: the clip length in samples.
        window: the step the crop's start moves by.

    Returns:
        The clip of exactly `length` samples, and whether it was cropped.
    """
    if len(samples) <= length:
        return np.pad(samples, (0, length - len(samples))).astype(np.float32), False
    energy = np.concatenate([[0.0], np.cumsum(samples.astype(np.float64) ** 2)])
    starts = np.arange(0, len(samples) - length + 1, window)
    best = int(starts[np.argmax(energy[starts + length] - energy[starts])])
    return samples[best : best + length].astype(np.float32), True
