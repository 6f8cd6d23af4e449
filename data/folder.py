"""`folder:PATH`: one sub-folder per class of PNG/JPEG/BMP/GIF images, streamed from disk."""

from __future__ import annotations

import collections
import hashlib
import logging
from collections.abc import Hashable, Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np
import tensorflow as tf

from tasklab.core.config import ImageConfig
from tasklab.core.errors import name_some
from tasklab.data.base import (
    DataError,
    Dataset,
    DataSpec,
    Split,
    find_duplicates,
    split_indices,
)
from tasklab.data.images import (
    decode_image_file,
    decode_native,
    is_sixteen_bit,
    is_transparent,
    stays_gray,
)
from tasklab.edge.image_io import (
    IMAGE_SUFFIXES,
    MAX_PIXELS,
    ImageSchema,
    ImageTooLargeError,
    check_image_size,
)

IMAGES = "PNG/JPEG images or BMP/GIF files"
_MAX_NAMED = 10
_MAX_REASONS = 5  # Whole reasons, each naming its file.

logger = logging.getLogger(__name__)


def load_image_folder(
    uri: str,
    path: str,
    val_fraction: float,
    test_fraction: float,
    seed: int,
    skip_corrupt: bool,
    image: ImageConfig,
    max_pixels: int = MAX_PIXELS,
) -> Dataset:
    """Indexes a folder of class sub-folders and makes streamed, stratified splits.

    Every file is decoded once up front, with the same TensorFlow decoder the
    training pipeline uses, so a corrupt file is found (and named) before
    training rather than halfway through an epoch, and the model's channels
    follow from every image's (see `model_channels`). Only the file list, the
    labels and what the scan found per file stay in memory.

    Args:
        uri: the dataset URI, for messages.
        path: the root folder.
        val_fraction: fraction held out for validation.
        test_fraction: fraction held out for testing.
        seed: seeds the split.
        skip_corrupt: skip undecodable files with a warning instead of failing.
        image: how images with transparency become pixels.
        max_pixels: files whose header declares more pixels are refused (or
            skipped with `skip_corrupt`) before anything is decoded.

    Returns:
        The dataset; its splits decode images on the fly, and its spec's
        schema is the `ImageSchema` the edge bundle records.
    """
    root = Path(path).expanduser()
    class_names, files, labels, ignored = index_class_folders(root)
    notes = ignored_note(ignored, root, "PNG/JPEG/BMP/GIF")
    logger.info("Checking %d images in %s", len(files), root)
    schema = ImageSchema(alpha=image.alpha, background=image.background_rgb, max_pixels=max_pixels)
    files, labels, skipped = _without_oversized(files, labels, root, max_pixels, skip_corrupt)
    notes.extend(skipped)
    if skipped:
        _check_no_empty_class(class_names, labels, root, after="after skipping oversized images")
    scanned, corrupt = scan_images(files, schema)
    if corrupt:
        corrupt_names = name_files([files[i] for i in corrupt], root)
        if not skip_corrupt:
            raise DataError(
                f"{len(corrupt)} image file(s) in '{root}' could not be decoded: {corrupt_names}. "
                "Remove or replace them, or set data.skip_corrupt: true to skip them."
            )
        logger.warning("Skipping %d corrupt image file(s): %s", len(corrupt), corrupt_names)
        notes.append(f"Skipped {len(corrupt)} corrupt image file(s): {corrupt_names}.")
        keep = np.setdiff1d(np.arange(len(files)), corrupt)
        files, labels = [files[i] for i in keep], labels[keep]
        _check_no_empty_class(class_names, labels, root, after="after skipping corrupt files")
    keys = [scanned[file].hash for file in files]
    files, labels, duplicate_notes = without_duplicates(files, labels, keys, root, class_names)
    notes.extend(duplicate_notes)
    facts = [scanned[file] for file in files]
    channels = model_channels(facts, schema)
    notes.extend(pixel_notes(facts, channels, image))
    sizes = collections.Counter(fact.shape[:2] for fact in facts)
    (height, width), _ = sizes.most_common(1)[0]
    train, val, test = split_indices(labels, (val_fraction, test_fraction), seed, class_names)
    fingerprint = hashlib.sha256()
    for file, label in zip(files, labels, strict=True):
        fingerprint.update(f"{file.relative_to(root)}\0{label}\0{scanned[file].hash}\n".encode())
    spec = DataSpec(
        kind="image",
        class_names=class_names,
        example_shape=(height, width, channels),
        schema=schema,
    )
    exact = whole_values(facts, schema)
    return Dataset(
        uri=uri,
        spec=spec,
        train=_file_split(files, labels, train, spec, exact),
        val=_file_split(files, labels, val, spec, exact),
        test=_file_split(files, labels, test, spec, exact),
        fingerprint=fingerprint.hexdigest(),
        notes=tuple(notes),
    )


def _without_oversized(
    files: list[Path], labels: np.ndarray, root: Path, max_pixels: int, skip: bool
) -> tuple[list[Path], np.ndarray, list[str]]:
    """Drops (with `skip`) or refuses the files declaring more than `max_pixels` pixels.

    Only headers are read, so a decompression bomb is never decoded.

    Returns:
        The files and labels kept, and a note for the skipped ones (empty if none).

    Raises:
        DataError: naming the oversized files and the settings, unless `skip`.
    """
    oversized = {}
    for index, file in enumerate(files):
        try:
            check_image_size(file, max_pixels)
        except ImageTooLargeError as error:
            oversized[index] = str(error)
    if not oversized:
        return files, labels, []
    names = name_files([files[i] for i in oversized], root)
    if not skip:
        first = next(iter(oversized.values()))
        raise DataError(
            f"{len(oversized)} image file(s) in '{root}' are too large to decode: {names}. "
            f"The first: {first} Or set data.skip_corrupt: true to skip such files."
        )
    logger.warning("Skipping %d oversized image file(s): %s", len(oversized), names)
    keep = [i for i in range(len(files)) if i not in oversized]
    note = (
        f"Skipped {len(oversized)} image file(s) of more than {max_pixels:,} pixels "
        f"(data.max_pixels): {names}."
    )
    return [files[i] for i in keep], labels[keep], [note]


def without_duplicates(
    files: list[Path],
    labels: np.ndarray,
    keys: Sequence[Hashable],
    root: Path,
    class_names: tuple[str, ...],
    what: str = "images",
) -> tuple[list[Path], np.ndarray, list[str]]:
    """Keeps one file of each set of identical files, so none is in two splits.

    Copies within one class keep their first file; copies under different
    classes contradict each other, so none of them is kept (`find_duplicates`).

    Args:
        files: the files, in order.
        labels: the class index of each file.
        keys: one content key per file (a hash of its bytes).
        root: the folder, to name files relative to it.
        class_names: the classes, to name one left empty.
        what: what the files are, for the notes ("images").

    Returns:
        The files and labels kept, and a note per kind of duplicate found.

    Raises:
        DataError: when dropping them leaves a class empty.
    """
    duplicates = find_duplicates(keys, labels.tolist())
    if not duplicates.dropped:
        return files, labels, []
    notes = []
    # Every file left out is named (up to a limit), so both sides of a contradiction show.
    if duplicates.repeated:
        copies = [files[i] for members in duplicates.repeated for i in members[1:]]
        notes.append(
            f"Kept one file of each of {len(duplicates.repeated)} set(s) of byte-identical "
            f"{what} in one class (so no copy is in two splits); left out "
            f"{name_files(copies, root)}."
        )
    if duplicates.conflicting:
        copies = [files[i] for members in duplicates.conflicting for i in members]
        notes.append(
            f"Left out {len(duplicates.conflicting)} set(s) of byte-identical {what} filed under "
            f"different classes (their labels contradict): {name_files(copies, root)}."
        )
    for note in notes:
        logger.warning(note)
    labels = labels[duplicates.keep]
    _check_no_empty_class(
        class_names, labels, root, after="after leaving out duplicates", what=what
    )
    return [files[i] for i in duplicates.keep], labels, notes


def index_class_folders(
    root: Path, suffixes: tuple[str, ...] = IMAGE_SUFFIXES, what: str = IMAGES
) -> tuple[tuple[str, ...], list[Path], np.ndarray, list[Path]]:
    """Lists the data files under each class sub-folder, in a fixed order.

    Args:
        root: the dataset folder.
        suffixes: the file name endings of data files (lowercase).
        what: what the data files are, for messages.

    Returns:
        Class names (sorted folder names), data files, their labels, and the
        files ignored because their suffix is not one of `suffixes`.

    Raises:
        DataError: for a missing folder, no class folders, one class, or an empty class.
    """
    if not root.exists():
        raise DataError(
            f"The dataset folder '{root}' does not exist. Check data.uri "
            "(relative paths are resolved against the current directory)."
        )
    if not root.is_dir():
        raise DataError(
            f"'{root}' is a file; folder: URIs need a folder with one sub-folder per class."
        )
    class_dirs = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    for class_dir in class_dirs:
        target = class_dir.resolve()
        if root.resolve().is_relative_to(target):
            raise DataError(
                f"The class folder '{class_dir}' links to '{target}', which holds the dataset "
                "folder itself: every file would be read again as that class. Remove the link."
            )
    if not class_dirs:
        raise DataError(
            f"The folder '{root}' has no class sub-folders. Put the {what} of each class in a "
            f"sub-folder named after the class, e.g. '{root}/cat/001{suffixes[0]}'."
        )
    if len(class_dirs) < 2:
        raise DataError(
            f"The folder '{root}' has a single class sub-folder ('{class_dirs[0].name}'); "
            "classification needs at least 2 classes. Add a sub-folder per class."
        )
    files, labels, ignored = [], [], []
    for label, class_dir in enumerate(class_dirs):
        for file in sorted(p for p in class_dir.rglob("*") if p.is_file()):
            if file.name.startswith("."):
                continue
            if file.suffix.lower() in suffixes:
                files.append(file)
                labels.append(label)
            else:
                ignored.append(file)
    class_names = tuple(d.name for d in class_dirs)
    labels = np.asarray(labels, dtype=np.int64)
    _check_no_empty_class(class_names, labels, root, after="", what=what)
    return class_names, files, labels, ignored


class ImageFacts(NamedTuple):
    """What the scan found about one image file.

    Attributes:
        shape: `(height, width, native channels)`: 1 gray, 2 gray + alpha, 3 RGB, 4 RGBA.
        hash: a 62-bit hash of the file's bytes.
        transparent: whether some pixel has alpha below 255.
        sixteen_bit: whether it is a 16-bit PNG.
        gray: whether it is still gray after the alpha handling (`ImageSchema.stays_gray`).
    """

    shape: tuple[int, int, int]
    hash: int
    transparent: bool
    sixteen_bit: bool
    gray: bool


def scan_images(files: list[Path], schema: ImageSchema) -> tuple[dict[Path, ImageFacts], list[int]]:
    """Decodes every file once, in parallel, to find what each holds and which are corrupt.

    A file whose decode fails is dropped from the stream by `ignore_errors`;
    the indices missing from the output are the corrupt files.

    Args:
        files: the image files.
        schema: the alpha handling (it decides which images stay gray).

    Returns:
        The facts of every decodable file, and the indices of the files that failed to decode.
    """

    def inspect(index, path):
        contents = tf.io.read_file(path)
        native = decode_native(contents, schema)
        return (
            index,
            tf.shape(native),
            tf.strings.to_hash_bucket_fast(contents, 2**62),
            is_transparent(native),
            is_sixteen_bit(contents),
            stays_gray(native, schema),
        )

    scan = (
        tf.data.Dataset.from_tensor_slices([str(f) for f in files])
        .enumerate()
        .map(inspect, num_parallel_calls=tf.data.AUTOTUNE)
        .ignore_errors()
        .batch(256)
    )
    scanned = {}
    for indices, *columns in scan.as_numpy_iterator():
        for index, shape, content_hash, transparent, sixteen, gray in zip(
            indices, *columns, strict=True
        ):
            scanned[files[index]] = ImageFacts(
                tuple(int(s) for s in shape),
                int(content_hash),
                bool(transparent),
                bool(sixteen),
                bool(gray),
            )
    corrupt = [i for i, file in enumerate(files) if file not in scanned]
    return scanned, corrupt


def model_channels(facts: list[ImageFacts], schema: ImageSchema) -> int:
    """The model's input channels for a folder of images.

    One color channel when every image is still gray after the alpha handling
    (gray, or gray + alpha composited over a gray background), else three (RGB);
    with `alpha: channel`, one more for alpha when some image has transparency.
    """
    color = 1 if all(fact.gray for fact in facts) else 3
    alpha = schema.alpha == "channel" and any(fact.transparent for fact in facts)
    return color + alpha


def whole_values(facts: list[ImageFacts], schema: ImageSchema) -> bool:
    """Whether every pixel the folder gives is a whole 8-bit value.

    16-bit samples and composited alpha give fractions; luma cannot occur
    (a one-channel model means every image stays gray).
    """
    composited = schema.alpha == "composite" and any(fact.transparent for fact in facts)
    return not composited and not any(fact.sixteen_bit for fact in facts)


def pixel_notes(facts: list[ImageFacts], channels: int, image: ImageConfig) -> list[str]:
    """What decoding did to the pixels, for the data notes."""
    notes = []
    transparent = sum(fact.transparent for fact in facts)
    if transparent and image.alpha == "composite":
        notes.append(
            f"{transparent} of {len(facts)} images have transparency: composited over "
            f"{_color_words(image.background_rgb)} (data.image.alpha: composite)."
        )
    elif transparent:
        notes.append(
            f"{transparent} of {len(facts)} images have transparency: alpha is kept as the last "
            f"of the model's {channels} channels (data.image.alpha: channel)."
        )
    elif image.alpha == "channel":
        notes.append("No image has transparency, so data.image.alpha: channel adds no channel.")
    sixteen_bit = sum(fact.sixteen_bit for fact in facts)
    if sixteen_bit:
        notes.append(
            f"{sixteen_bit} image(s) are 16-bit PNGs: their samples are scaled to 0..255 "
            "(value / 257)."
        )
    return notes


def _color_words(rgb: tuple[float, float, float]) -> str:
    """Names a background: `white`, `black`, `gray level 128` or `[255, 0, 0]`."""
    names = {(255.0,) * 3: "white", (0.0,) * 3: "black"}
    if tuple(rgb) in names:
        return names[tuple(rgb)]
    if len(set(rgb)) == 1:
        return f"gray level {rgb[0]:g}"
    return f"[{', '.join(f'{v:g}' for v in rgb)}]"


def _file_split(
    files: list[Path], labels: np.ndarray, indices: np.ndarray, spec: DataSpec, exact: bool
) -> Split:
    """A split that decodes its files on the fly.

    Pixels are floats (16-bit samples and alpha give fractions); a folder
    whose pixels are all whole 8-bit values is served as uint8, as the
    decoders give it (a quarter of the bytes per batch).
    """
    paths = np.asarray([str(files[i]) for i in indices])
    split_labels = labels[indices]
    channels, schema = spec.example_shape[-1], spec.schema
    dtype = tf.uint8 if exact else tf.float32

    def decode(path, label):
        return tf.cast(decode_image_file(path, channels, schema), dtype), label

    def make_dataset(shuffle_seed: int | None = None) -> tf.data.Dataset:
        dataset = tf.data.Dataset.from_tensor_slices((paths, split_labels))
        if shuffle_seed is not None:
            # Shuffling file names before decoding keeps the buffer small.
            dataset = dataset.shuffle(len(paths), seed=shuffle_seed, reshuffle_each_iteration=True)
        return dataset.map(decode, num_parallel_calls=tf.data.AUTOTUNE)

    return Split(labels=split_labels, make_dataset=make_dataset, in_memory=False)


def _check_no_empty_class(
    class_names: tuple[str, ...],
    labels: np.ndarray,
    root: Path,
    after: str,
    what: str = IMAGES,
) -> None:
    counts = np.bincount(labels, minlength=len(class_names))
    empty = [name for name, count in zip(class_names, counts, strict=True) if count == 0]
    if empty:
        when = f" {after}" if after else ""
        raise DataError(
            f"The class folder(s) {empty} in '{root}' hold no {what}{when}. "
            "Add some to them or remove the folders."
        )


def skip_unreadable(
    reasons: list[str], root: Path, what: str, failure: str, skip: bool
) -> list[str]:
    """Refuses a folder holding files that cannot be read, or (with `skip`) notes them.

    Args:
        reasons: one sentence per unreadable file, each naming it.
        root: the folder.
        what: the kind of file, e.g. "audio", for the note.
        failure: the error's predicate, e.g. "could not be read".
        skip: `data.skip_corrupt`.

    Returns:
        The note for the skipped files (empty if none).

    Raises:
        DataError: naming the first few files and both fixes, unless `skip`.
    """
    if not reasons:
        return []
    named = " ".join(reasons[:_MAX_REASONS])
    extra = len(reasons) - _MAX_REASONS
    more = f" ({extra:,} more)" if extra > 0 else ""
    if not skip:
        raise DataError(
            f"{len(reasons)} {what} file(s) in '{root}' {failure}: {named}{more} "
            "Remove them, or set data.skip_corrupt: true to skip them."
        )
    logger.warning("Skipping %d unreadable %s file(s): %s", len(reasons), what, named)
    return [f"Skipped {len(reasons)} unreadable {what} file(s): {named}{more}"]


def ignored_note(ignored: list[Path], root: Path, what: str) -> list[str]:
    """The data note for files skipped because their suffix is not the data's (none if none)."""
    if not ignored:
        return []
    return [f"Ignored {len(ignored)} file(s) that are not {what}: {name_files(ignored, root)}."]


def name_files(files: list[Path], root: Path) -> str:
    """Names up to 10 files relative to `root`, and how many more there are."""
    return name_some([str(f.relative_to(root)) for f in files], _MAX_NAMED)
