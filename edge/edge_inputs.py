"""Raw inputs -> model inputs on the device side, from `preprocessing.json` alone.

Imports only numpy, the standard library, Pillow (for image files) and scipy
(for audio files): never TensorFlow or pandas, so it runs where the LiteRT
runtime runs. It mirrors the training pipeline's preprocessing (the image
folder loader and `ImageClassification.preprocess`, `TabularEncoder.features`,
the audio folder loader); tests check both give the same model inputs.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .image_io import ImageError, ImageSchema, convert_pixels, read_native

# pandas' default missing-value markers: a raw CSV field equal to one of these
# was missing when the encoder was fitted, so it is missing here too.
NA_VALUES = frozenset(
    [
        "#N/A",
        "#N/A N/A",
        "#NA",
        "-1.#IND",
        "-1.#QNAN",
        "-NaN",
        "-nan",
        "1.#IND",
        "1.#QNAN",
        "<NA>",
        "N/A",
        "NA",
        "NULL",
        "NaN",
        "None",
        "n/a",
        "nan",
        "null",
    ]
) | {""}
# Missing in numeric and categorical columns too, as the training loader reads it (UCI's marker).
MISSING_MARKERS = frozenset({"?"})
MISSING_VALUES = NA_VALUES | MISSING_MARKERS
TRUE_VALUES = frozenset({"true", "yes", "t", "y", "1"})
TEXT_SUFFIXES = (".txt",)
# A text example past this is no text a classifier reads (models see a few hundred tokens).
MAX_TEXT_BYTES = 16 << 20


class EdgeInputError(ValueError):
    """A raw input cannot be turned into a model input; the message says why and what to do."""


def load_image(path: Path, image: Mapping[str, Any]) -> np.ndarray:
    """Reads an image file as the model's float input, converted as the training data was.

    Args:
        path: a PNG, JPEG, BMP or GIF file.
        image: the `input` section of `preprocessing.json` (height, width, channels
            and the conversion's settings; see `ImageSchema.from_json`).

    Returns:
        `(height, width, channels)` float32 pixel values in 0..255.

    Raises:
        EdgeInputError: for a file that is not a readable image.
    """
    try:
        schema = ImageSchema.from_json(image)
        pixels = convert_pixels(read_native(path, schema), image["channels"], schema)
    except ImageError as error:
        raise EdgeInputError(str(error)) from None
    if pixels.shape[:2] != (image["height"], image["width"]):
        pixels = _resize(pixels, image["height"], image["width"])
    return pixels


def _resize(pixels: np.ndarray, height: int, width: int) -> np.ndarray:
    """Resizes float pixels channel by channel with Pillow's bilinear filter.

    The training pipeline resizes bilinearly without antialiasing; Pillow's
    bilinear is close but not bit-identical: see the bundle's README note.
    """
    from PIL import Image

    channels = (
        Image.fromarray(np.ascontiguousarray(pixels[..., c])) for c in range(pixels.shape[-1])
    )
    resized = [np.asarray(c.resize((width, height), Image.Resampling.BILINEAR)) for c in channels]
    return np.stack(resized, axis=-1).astype(np.float32)


def load_audio(path: Path, audio: Mapping[str, Any]) -> np.ndarray:
    """Reads a WAV file as the model's clip, as the audio folder loader does.

    Args:
        path: a WAV file (any sample rate, channels and sample format).
        audio: the `input` section of `preprocessing.json` (sample_rate, clip_samples).

    Returns:
        `(clip_samples,)` float32 samples in [-1, 1].

    Raises:
        EdgeInputError: for an empty or non-WAV file.
    """
    from .audio_io import AudioError, fit_clip, read_audio  # Only audio bundles need scipy.

    try:
        samples = read_audio(path, audio["sample_rate"])
    except AudioError as error:
        raise EdgeInputError(str(error)) from None
    return fit_clip(samples, audio["clip_samples"])[0]


def read_text(path: Path) -> str:
    """Reads a text file as the training data's texts were read (`decode_text_file`), stripped.

    Raises:
        EdgeInputError: for a binary file (NUL bytes) or one too large to be a text.
    """
    return decode_text_file(path)[0].strip()


def decode_text_file(path: Path) -> tuple[str, bool]:
    """Reads a text file as UTF-8, replacing undecodable bytes with U+FFFD.

    Training (`folder:` text) and the edge runner read text files with this,
    so a device sees the text the model was trained on.

    Returns:
        The text, and whether any byte could not be decoded.

    Raises:
        EdgeInputError: for a file of more than `MAX_TEXT_BYTES` (a crafted
            sparse file would otherwise be read into memory whole) or a binary
            file (NUL bytes), which is not text at all.
    """
    path = Path(path)
    size = path.stat().st_size
    if size > MAX_TEXT_BYTES:
        raise EdgeInputError(
            f"'{path}' is {size:,} bytes, more than a text example's {MAX_TEXT_BYTES:,}: split "
            "it into several texts."
        )
    data = path.read_bytes()
    if b"\0" in data:
        raise EdgeInputError(f"'{path}' holds NUL bytes: it is a binary file, not text.")
    try:
        return data.decode("utf-8-sig"), False
    except UnicodeDecodeError:
        return data.decode("utf-8-sig", errors="replace"), True


def read_csv_rows(path: Path, columns: Sequence[Mapping[str, Any]]) -> Iterator[dict[str, str]]:
    """Yields the rows of a CSV file with a header that names every input column.

    Raises:
        EdgeInputError: when a column the model needs is absent.
    """
    with path.open(newline="", encoding="utf-8-sig", errors="replace") as handle:
        reader = csv.DictReader(handle)
        header = reader.fieldnames or []
        missing = [column["name"] for column in columns if column["name"] not in header]
        if missing:
            raise EdgeInputError(
                f"'{path}' lacks the column(s) {missing} the model needs. Its header: {header}. "
                "Give every input column of the training data (the target may be left out)."
            )
        for row in reader:
            if any(value for value in row.values() if value is not None):
                yield row


def encode_row(row: Mapping[str, str], columns: Sequence[Mapping[str, Any]]) -> np.ndarray:
    """Encodes one raw row (text fields) as the model's feature vector.

    Numeric and boolean columns become their value (missing: the train
    median, plus a `__missing` flag where the encoder has one); categorical
    columns a one-hot block over the train categories and an `<other>` slot.

    Args:
        row: column name -> raw text.
        columns: the `input.columns` list of `preprocessing.json`.

    Returns:
        The float32 feature vector.
    """
    features: list[float] = []
    for column in columns:
        raw = row.get(column["name"])
        raw = "" if raw is None else raw
        if column["kind"] == "categorical":
            features.extend(_one_hot(raw, column))
            continue
        value = _as_number(raw, column)
        missing = value is None
        features.append(column["fill_value"] if missing else value)
        if column["indicator"]:
            features.append(1.0 if missing else 0.0)
    return np.asarray(features, dtype=np.float32)


def _as_number(raw: str, column: Mapping[str, Any]) -> float | None:
    """A numeric or boolean field as a float; None when missing or infinite."""
    if raw in MISSING_VALUES:
        return None
    try:
        value = float(raw)
    except ValueError:
        if column["kind"] == "boolean":
            return 1.0 if raw.strip().lower() in TRUE_VALUES else 0.0
        raise EdgeInputError(
            f"Column '{column['name']}' is {column['kind']} but holds {raw!r}. Fix the value or "
            "leave it empty to mark it missing."
        ) from None
    return None if math.isinf(value) or math.isnan(value) else value


def _one_hot(raw: str, column: Mapping[str, Any]) -> list[float]:
    categories = column["categories"]
    text = column["missing_category"] if raw in MISSING_VALUES else raw
    position = _category_position(text, categories)
    block = [0.0] * (len(categories) + 1)  # The last slot is `<other>`.
    block[len(categories) if position is None else position] = 1.0
    return block


def _category_position(text: str, categories: Sequence[str]) -> int | None:
    if text in categories:
        return categories.index(text)
    # Integer-coded categories: pandas wrote 3 as "3" or "3.0" depending on the
    # column's dtype; match by value so both spellings find the train category.
    try:
        value = float(text)
    except ValueError:
        return None
    for position, category in enumerate(categories):
        try:
            if float(category) == value:
                return position
        except ValueError:
            continue
    return None
