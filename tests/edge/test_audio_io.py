"""Audio decoding: every WAV format to mono float clips at one rate, and clear errors."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.io import wavfile

from tasklab.edge.audio_io import AudioError, as_float, fit_clip, read_audio, resample


def sine(frequency: float, rate: int, seconds: float, amplitude: float = 0.5) -> np.ndarray:
    time = np.arange(round(rate * seconds)) / rate
    return (amplitude * np.sin(2 * np.pi * frequency * time)).astype(np.float32)


def dominant_frequency(samples: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(samples))
    return float(np.fft.rfftfreq(len(samples), 1 / rate)[np.argmax(spectrum)])


def write_wav_24bit(path, samples: np.ndarray, rate: int) -> None:
    """scipy cannot write 24-bit WAV; a minimal PCM header with 3-byte little-endian samples."""
    ints = np.clip(np.rint(samples * 8388607), -8388608, 8388607).astype("<i4")
    data = b"".join(int(value).to_bytes(3, "little", signed=True) for value in ints)
    header = (
        b"RIFF" + (36 + len(data)).to_bytes(4, "little") + b"WAVEfmt "
        + (16).to_bytes(4, "little") + (1).to_bytes(2, "little") + (1).to_bytes(2, "little")
        + rate.to_bytes(4, "little") + (rate * 3).to_bytes(4, "little")
        + (3).to_bytes(2, "little") + (24).to_bytes(2, "little")
        + b"data" + len(data).to_bytes(4, "little")
    )  # fmt: skip
    path.write_bytes(header + data)


@pytest.mark.parametrize(
    ("dtype", "scale", "offset"),
    [(np.int16, 32767, 0), (np.int32, 2**31 - 1, 0), (np.uint8, 127, 128), (np.float32, 1, 0)],
)
def test_every_sample_format_reads_as_the_same_float_signal(tmp_path, dtype, scale, offset):
    signal = sine(440, 16000, 0.25)
    path = tmp_path / "tone.wav"
    wavfile.write(path, 16000, (signal * scale + offset).astype(dtype))

    decoded = read_audio(path, 16000)

    tolerance = 1.5 / 127 if dtype == np.uint8 else 1e-4
    np.testing.assert_allclose(decoded, signal, atol=tolerance)


def test_24_bit_wav_reads_at_full_scale(tmp_path):
    signal = sine(300, 16000, 0.1)
    write_wav_24bit(tmp_path / "deep.wav", signal, 16000)

    np.testing.assert_allclose(read_audio(tmp_path / "deep.wav", 16000), signal, atol=1e-6)


def test_stereo_is_mixed_to_the_mean_of_its_channels(tmp_path):
    left, right = sine(440, 16000, 0.2, 0.6), sine(440, 16000, 0.2, 0.2)
    wavfile.write(tmp_path / "stereo.wav", 16000, np.stack([left, right], axis=1))

    np.testing.assert_allclose(read_audio(tmp_path / "stereo.wav", 16000), (left + right) / 2)


def test_44_1_khz_is_resampled_keeping_length_and_pitch(tmp_path):
    wavfile.write(tmp_path / "cd.wav", 44100, (sine(1000, 44100, 1.0) * 32767).astype(np.int16))

    decoded = read_audio(tmp_path / "cd.wav", 16000)

    assert len(decoded) == 16000
    assert dominant_frequency(decoded, 16000) == pytest.approx(1000, abs=2)
    assert np.sqrt(np.mean(decoded[1000:-1000] ** 2)) == pytest.approx(0.5 / np.sqrt(2), rel=0.02)


def test_resample_to_the_same_rate_is_the_identity():
    samples = sine(100, 8000, 0.1)
    np.testing.assert_array_equal(resample(samples, 8000, 8000), samples)


def test_a_zero_byte_file_is_named_as_empty(tmp_path):
    (tmp_path / "empty.wav").write_bytes(b"")

    with pytest.raises(AudioError, match=r"empty\.wav is empty \(0 bytes\)"):
        read_audio(tmp_path / "empty.wav", 16000)


def test_a_file_that_is_not_audio_says_how_to_convert_it(tmp_path):
    (tmp_path / "notes.wav").write_text("these are not samples", encoding="utf-8")

    with pytest.raises(AudioError, match=r"not a WAV file.*ffmpeg"):
        read_audio(tmp_path / "notes.wav", 16000)


def test_a_truncated_wav_is_an_error_not_garbage(tmp_path):
    wavfile.write(tmp_path / "cut.wav", 16000, np.zeros(100, np.int16))
    content = (tmp_path / "cut.wav").read_bytes()
    (tmp_path / "cut.wav").write_bytes(content[:30])

    with pytest.raises(AudioError, match=r"cut\.wav"):
        read_audio(tmp_path / "cut.wav", 16000)


def test_pure_silence_reads_as_zeros(tmp_path):
    wavfile.write(tmp_path / "silence.wav", 16000, np.zeros(8000, np.int16))

    decoded = read_audio(tmp_path / "silence.wav", 16000)

    assert decoded.shape == (8000,) and not np.any(decoded)


def test_fit_clip_pads_short_clips_with_trailing_silence():
    clip, cropped = fit_clip(np.ones(10, np.float32), 16)

    np.testing.assert_array_equal(clip, [1.0] * 10 + [0.0] * 6)
    assert not cropped


def test_fit_clip_crops_a_long_clip_to_its_loudest_window():
    samples = np.zeros(48000, np.float32)
    samples[30000:34000] = 0.8  # A "word" two thirds of the way in.

    clip, cropped = fit_clip(samples, 16000)

    assert cropped and len(clip) == 16000
    assert np.sum(clip**2) == pytest.approx(np.sum(samples**2))


def test_as_float_scales_integer_extremes_into_the_unit_range():
    assert as_float(np.array([-32768, 32767], np.int16)).tolist() == pytest.approx(
        [-1.0, 1.0], 1e-4
    )
    assert as_float(np.array([0, 255], np.uint8)).tolist() == pytest.approx([-1.0, 0.9921875])
