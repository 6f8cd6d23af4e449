"""`builtin:spoken_words`: keyword clips synthesized offline with espeak-ng, split by speaker.

Every installed English accent (espeak-ng voices such as `gmw/en-US`,
`gmw/en-GB-scotland`) is spoken with every voice variant (`Alicia`, `m3`,
`whisper`, ... and none), and each such speaker says every keyword, some
"unknown" words, and gives some background-noise-only "silence" clips:
`data.synthesis.renderings` clips per class, each at a speed and pitch drawn
from the configured lists, placed at a random offset in the clip, with
white, pink or brown noise mixed in at a random SNR.

The splits are by variant (the speaker's timbre): the test set's variants
are never heard in training, in any accent, so test accuracy measures
generalization to unseen speakers. For that reason the dataset offers no
re-splitting (cross-validation would mix speakers across folds).

Generation is deterministic (seeded per speaker) and cached on disk under a
key made of every parameter, the espeak-ng version and the accents and
variants found, so a second run reads the cache in seconds.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import hashlib
import json
import logging
import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import numpy as np

from tasklab.core import io
from tasklab.core.config import DataConfig
from tasklab.core.source_options import SpokenWordsOptions
from tasklab.data.audio import (
    NOISE_COLORS,
    audio_spec,
    colored_noise,
    group_split,
    rms,
    to_int16,
)
from tasklab.data.base import DataError, Dataset, array_dataset
from tasklab.edge.audio_io import fit_clip, resample

logger = logging.getLogger(__name__)

ESPEAK = "espeak-ng"
UNKNOWN, SILENCE = "unknown", "silence"
NO_VARIANT = "none"
GENERATOR_VERSION = 1  # Bump when the clips made from the same parameters change.
DEFAULT_CACHE = Path("~/.cache/tasklab/spoken_words")
_PROBE_WORD = "yes"
_TRIM_FRACTION = 0.02  # Leading/trailing samples under 2% of the peak are espeak's silence.


@dataclasses.dataclass(frozen=True)
class Speaker:
    """One synthetic speaker: an English accent spoken with a voice variant.

    Attributes:
        accent: the espeak-ng voice, e.g. `gmw/en-US`.
        variant: the espeak-ng variant, e.g. `Alicia`, or `none`.
    """

    accent: str
    variant: str

    @property
    def voice(self) -> str:
        """The `espeak-ng -v` argument."""
        return self.accent if self.variant == NO_VARIANT else f"{self.accent}+{self.variant}"


def require_espeak() -> None:
    """Raises DataError with the install command when espeak-ng is missing."""
    if shutil.which(ESPEAK) is None:
        raise DataError(
            "builtin:spoken_words is synthesized with espeak-ng, which is not installed. "
            "Install it with `make install` (or `sudo apt-get install espeak-ng`)."
        )


def espeak_version() -> str:
    """The installed espeak-ng's version line (part of the cache key)."""
    result = subprocess.run([ESPEAK, "--version"], capture_output=True, text=True, check=True)
    return result.stdout.strip()


def list_voices(language: str) -> list[str]:
    """The voice files `espeak-ng --voices=LANGUAGE` lists (its `File` column), in order."""
    result = subprocess.run(
        [ESPEAK, f"--voices={language}"], capture_output=True, text=True, check=True
    )
    files = [line.split()[4] for line in result.stdout.splitlines()[1:] if len(line.split()) >= 5]
    return list(dict.fromkeys(files))


def english_accents() -> list[str]:
    """Every installed English voice that synthesizes (MBROLA ones need the mbrola program)."""
    candidates = [voice for voice in list_voices("en") if not voice.startswith("!v/")]
    return [voice for voice in candidates if len(synthesize(_PROBE_WORD, voice, 150, 50)[0])]


def voice_variants() -> list[str]:
    """Every installed voice variant (`!v/NAME` files), plus `none` (the accent's own voice)."""
    names = [voice.removeprefix("!v/") for voice in list_voices("variant")]
    return [NO_VARIANT, *sorted(dict.fromkeys(names), key=str.lower)]


def synthesize(word: str, voice: str, speed: int, pitch: int) -> tuple[np.ndarray, int]:
    """Speaks a word with espeak-ng.

    Returns:
        float32 samples in [-1, 1] (empty when the voice cannot speak) and their rate.
    """
    result = subprocess.run(
        [ESPEAK, "-v", voice, "-s", str(speed), "-p", str(pitch), "--stdout", word],
        capture_output=True,
        check=False,
    )
    if result.returncode != 0 or len(result.stdout) <= 44:
        return np.zeros(0, np.float32), 0
    return parse_stream_wav(result.stdout)


def parse_stream_wav(content: bytes) -> tuple[np.ndarray, int]:
    """Reads espeak-ng's `--stdout` WAV, whose streamed header leaves the sizes unset.

    Returns:
        float32 samples and the sample rate.
    """
    rate = int.from_bytes(content[24:28], "little")
    start = content.find(b"data") + 8
    data = content[start : start + (len(content) - start) // 2 * 2]
    return np.frombuffer(data, dtype="<i2").astype(np.float32) / 32768.0, rate


def trim_silence(samples: np.ndarray) -> np.ndarray:
    """Drops the leading and trailing near-silence espeak-ng pads a word with."""
    loud = np.flatnonzero(np.abs(samples) > _TRIM_FRACTION * max(np.abs(samples).max(), 1e-9))
    return samples[loud[0] : loud[-1] + 1] if len(loud) else samples


def speaker_rng(speaker: Speaker, seed: int) -> np.random.Generator:
    """A random source for one speaker, independent of the order speakers are made in."""
    digest = hashlib.sha256(f"{seed}\0{speaker.accent}\0{speaker.variant}".encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


def place_in_clip(
    speech: np.ndarray, rng: np.random.Generator, clip_samples: int, snr_db: tuple[float, ...]
) -> np.ndarray:
    """Puts speech at a random offset and level in a clip and mixes in noise at a random SNR."""
    if len(speech) > clip_samples:
        speech = fit_clip(speech, clip_samples)[0]
    clip = np.zeros(clip_samples, np.float32)
    offset = int(rng.integers(0, clip_samples - len(speech) + 1))
    level = rng.uniform(0.25, 0.9) / max(float(np.abs(speech).max()), 1e-9)
    clip[offset : offset + len(speech)] = speech * level
    noise = colored_noise(rng, clip_samples, rng.choice(list(NOISE_COLORS)))
    snr = rng.uniform(*snr_db)
    clip += noise * rms(speech * level) / 10 ** (snr / 20)
    return np.clip(clip, -1.0, 1.0)


def silence_clip(rng: np.random.Generator, clip_samples: int) -> np.ndarray:
    """Background noise only, from nearly digital silence (-70 dBFS) to loud (-20 dBFS)."""
    noise = colored_noise(rng, clip_samples, rng.choice(list(NOISE_COLORS)))
    return np.clip(noise * 10 ** (rng.uniform(-70, -20) / 20), -1.0, 1.0)


def speaker_clips(
    speaker: Speaker,
    class_names: tuple[str, ...],
    synthesis: SpokenWordsOptions,
    sample_rate: int,
    clip_samples: int,
) -> tuple[list[np.ndarray], list[dict[str, Any]]]:
    """Every clip of one speaker: `renderings` per class, in class order.

    Returns:
        int16 clips and one index entry per clip (class, word, speed, pitch).
    """
    rng = speaker_rng(speaker, synthesis.seed)
    clips, entries = [], []
    for label, name in enumerate(class_names):
        for _ in range(synthesis.renderings):
            speed, pitch = int(rng.choice(synthesis.speeds)), int(rng.choice(synthesis.pitches))
            if name == SILENCE:
                word, clip = "", silence_clip(rng, clip_samples)
            else:
                word = str(rng.choice(synthesis.unknown_words)) if name == UNKNOWN else name
                speech, rate = synthesize(word, speaker.voice, speed, pitch)
                if not len(speech):
                    raise DataError(f"espeak-ng could not speak '{word}' as {speaker.voice}.")
                speech = trim_silence(resample(speech, rate, sample_rate))
                clip = place_in_clip(speech, rng, clip_samples, synthesis.snr_db)
            clips.append(to_int16(clip))
            entries.append(
                {"label": label, "word": word, "speed": speed, "pitch": pitch, **vars(speaker)}
            )
    return clips, entries


def resolve_speakers(synthesis: SpokenWordsOptions) -> list[Speaker]:
    """Every (accent, variant) pair to synthesize, checking configured names exist.

    Raises:
        DataError: naming an accent or variant that is not installed.
    """
    installed_accents = english_accents()
    accents = list(synthesis.accents or installed_accents)
    unknown = [accent for accent in accents if accent not in installed_accents]
    if unknown or not accents:
        raise DataError(
            "data.synthesis.accents names voice(s) espeak-ng cannot speak English with: "
            f"{unknown}. "
            f"Installed: {installed_accents}."
        )
    installed_variants = voice_variants()
    variants = list(synthesis.variants or installed_variants)
    unknown = [variant for variant in variants if variant not in installed_variants]
    if unknown:
        raise DataError(
            f"data.synthesis.variants names variant(s) that are not installed: {unknown}. "
            f"Installed: {installed_variants}."
        )
    return [Speaker(accent, variant) for variant in variants for accent in accents]


def cache_key(
    synthesis: SpokenWordsOptions,
    speakers: list[Speaker],
    sample_rate: int,
    clip_samples: int,
    espeak: str,
) -> str:
    """A hash of everything the clips depend on (`espeak`: espeak-ng's version line)."""
    parameters = {
        "generator": GENERATOR_VERSION,
        "espeak": espeak,
        "synthesis": {
            key: value
            for key, value in dataclasses.asdict(synthesis).items()
            if key not in ("cache_dir", "accents", "variants")
        },
        "speakers": [vars(speaker) for speaker in speakers],
        "sample_rate": sample_rate,
        "clip_samples": clip_samples,
    }
    return hashlib.sha256(json.dumps(parameters, sort_keys=True).encode()).hexdigest()[:20]


def generate(
    speakers: list[Speaker],
    class_names: tuple[str, ...],
    synthesis: SpokenWordsOptions,
    sample_rate: int,
    clip_samples: int,
) -> tuple[np.ndarray, list[dict[str, Any]]]:
    """Synthesizes every speaker's clips, speakers in parallel (espeak-ng runs as processes).

    Returns:
        `(clips, samples)` int16 and the index, in speaker order.
    """
    started, last_log = time.monotonic(), time.monotonic()
    workers = max(1, min(8, os.cpu_count() or 1))
    results = []
    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        futures = [
            pool.submit(speaker_clips, speaker, class_names, synthesis, sample_rate, clip_samples)
            for speaker in speakers
        ]
        for done, future in enumerate(futures, start=1):
            results.append(future.result())
            if time.monotonic() - last_log > 10 or done == len(futures):
                logger.info(
                    "Synthesized %d of %d speakers (%.0f s)",
                    done,
                    len(speakers),
                    time.monotonic() - started,
                )
                last_log = time.monotonic()
    clips = np.stack([clip for speaker_result, _ in results for clip in speaker_result])
    index = [entry for _, entries in results for entry in entries]
    return clips, index


def write_cache(folder: Path, clips: np.ndarray, index: list[dict[str, Any]], meta: dict) -> None:
    """Writes the clips and their index into `folder` atomically (a staged folder, renamed)."""
    # One staging folder per process: two runs synthesizing the same clips at once must not
    # write into (or delete) each other's; the last rename wins with identical contents.
    staging = folder.with_name(f".{folder.name}.partial-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    np.save(staging / "clips.npy", clips, allow_pickle=False)
    io.write_json(staging / "index.json", {"meta": meta, "clips": index})
    io.replace_dir(staging, folder)


def synthesized_clips(
    config: DataConfig, class_names: tuple[str, ...]
) -> tuple[np.ndarray, list[dict[str, Any]], dict[str, Any], list[str]]:
    """The clips of the configured synthesis: read from the cache, or generated and cached.

    Returns:
        The int16 clips, their index, the cache's metadata, and notes.
    """
    require_espeak()
    synthesis, audio = config.synthesis, config.audio
    speakers = resolve_speakers(synthesis)
    espeak = espeak_version()
    key = cache_key(synthesis, speakers, audio.sample_rate, audio.clip_samples, espeak)
    folder = Path(synthesis.cache_dir or DEFAULT_CACHE).expanduser() / key
    if (folder / "index.json").is_file():
        logger.info("Reading synthesized clips from %s", folder)
        cached = json.loads((folder / "index.json").read_text(encoding="utf-8"))
        clips = np.load(folder / "clips.npy", allow_pickle=False)
        return (
            clips,
            cached["clips"],
            cached["meta"],
            [f"Read the synthesized clips from {folder}."],
        )
    logger.info(
        "Synthesizing %d clips with espeak-ng (%d speakers); cached in %s",
        len(speakers) * len(class_names) * synthesis.renderings,
        len(speakers),
        folder,
    )
    started = time.monotonic()
    clips, index = generate(speakers, class_names, synthesis, audio.sample_rate, audio.clip_samples)
    meta = {"key": key, "seconds": round(time.monotonic() - started, 1), "espeak": espeak}
    write_cache(folder, clips, index, meta)
    note = f"Synthesized {len(clips)} clips in {meta['seconds']:.0f} s; cached in {folder}."
    return clips, index, meta, [note]


def load_spoken_words(uri: str, config: DataConfig, seed: int) -> Dataset:
    """Loads (synthesizing on first use) `builtin:spoken_words`, split by voice variant.

    Args:
        uri: the dataset URI.
        config: the data section (`audio`, `synthesis`, the fractions).
        seed: seeds which variants are held out.

    Returns:
        The dataset: clips as int16 in memory; no `resplit` (see the module docstring).
    """
    class_names = (*config.synthesis.keywords, UNKNOWN, SILENCE)
    clips, index, meta, notes = synthesized_clips(config, class_names)
    labels = np.asarray([entry["label"] for entry in index], dtype=np.int64)
    variants = np.asarray([entry["variant"] for entry in index])
    accents = sorted({entry["accent"] for entry in index})
    train, val, test = group_split(variants, (config.val_fraction, config.test_fraction), seed)
    held_out = sorted(set(variants[test]))
    notes = [
        *notes,
        f"{len(accents)} English accents x {len(set(variants))} voice variants = "
        f"{len(accents) * len(set(variants))} speakers; {len(clips)} clips.",
        f"Split by voice variant: the test set's {len(held_out)} variants are never heard in "
        f"training ({', '.join(held_out[:12])}{', ...' if len(held_out) > 12 else ''}).",
    ]
    return array_dataset(
        uri,
        audio_spec(class_names, config.audio),
        clips,
        labels,
        (train, val, test),
        notes,
        # The cache key names every parameter the clips came from; no need to hash 300 MB.
        fingerprint=f"spoken_words:{meta['key']}",
        resplittable=False,
    )
