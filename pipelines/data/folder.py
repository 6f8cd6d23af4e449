"""`folder:PATH`: one sub-folder per class of PNG/JPEG images, streamed from disk."""

from __future__ import annotations

import collections
import hashlib
import logging
from pathlib import Path

import numpy as np
import tensorflow as tf

from pipelines.data.base import DataError, Dataset, DataSpec, Split, split_indices

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
_MAX_NAMED = 10

logger = logging.getLogger(__name__)


def load_image_folder(
    uri: str,
    path: str,
    val_fraction: float,
    test_fraction: float,
    seed: int,
    skip_corrupt: bool,
) -> Dataset:
    """Indexes a folder of class sub-folders and makes streamed, stratified splits.

    Every file is decoded once up front, with the same TensorFlow decoder the
    training pipeline uses, so a corrupt file is found (and named) before
    training rather than halfway through an epoch. Only the file list, the
    labels and the image sizes stay in memory.

    Args:
        uri: the dataset URI, for messages.
        path: the root folder.
        val_fraction: fraction held out for validation.
        test_fraction: fraction held out for testing.
        seed: seeds the split.
        skip_corrupt: skip undecodable files with a warning instead of failing.

    Returns:
        The dataset; its splits decode images on the fly.
    """
    root = Path(path).expanduser()
    class_names, files, labels, ignored = index_class_folders(root)
    notes = ignored_note(ignored, root, "PNG/JPEG")
    logger.info("Checking %d images in %s", len(files), root)
    shapes, file_hashes, corrupt = scan_images(files)
    if corrupt:
        corrupt_names = name_some([files[i] for i in corrupt], root)
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
    channels = 1 if all(shape[2] == 1 for shape in shapes.values()) else 3
    (height, width), _ = collections.Counter(shape[:2] for shape in shapes.values()).most_common(1)[
        0
    ]
    train, val, test = split_indices(labels, (val_fraction, test_fraction), seed, class_names)
    fingerprint = hashlib.sha256()
    for file, label in zip(files, labels, strict=True):
        fingerprint.update(f"{file.relative_to(root)}\0{label}\0{file_hashes[file]}\n".encode())
    return Dataset(
        uri=uri,
        spec=DataSpec(
            kind="image", class_names=class_names, example_shape=(height, width, channels)
        ),
        train=_file_split(files, labels, train, channels),
        val=_file_split(files, labels, val, channels),
        test=_file_split(files, labels, test, channels),
        fingerprint=fingerprint.hexdigest(),
        notes=tuple(notes),
    )


def index_class_folders(
    root: Path, suffixes: tuple[str, ...] = IMAGE_SUFFIXES, what: str = "PNG/JPEG images"
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


def scan_images(
    files: list[Path],
) -> tuple[dict[Path, tuple[int, int, int]], dict[Path, int], list[int]]:
    """Decodes every file once, in parallel, to find sizes, content hashes and corrupt files.

    A file whose decode fails is dropped from the stream by `ignore_errors`;
    the indices missing from the output are the corrupt files.

    Args:
        files: the image files.

    Returns:
        Shape `(height, width, channels)` and a 62-bit content hash per
        decodable file, and the indices of the files that failed to decode.
    """

    def inspect(index, path):
        contents = tf.io.read_file(path)
        image = tf.io.decode_image(contents, expand_animations=False)
        return index, tf.shape(image), tf.strings.to_hash_bucket_fast(contents, 2**62)

    scan = (
        tf.data.Dataset.from_tensor_slices([str(f) for f in files])
        .enumerate()
        .map(inspect, num_parallel_calls=tf.data.AUTOTUNE)
        .ignore_errors()
        .batch(256)
    )
    shapes, hashes, seen = {}, {}, set()
    for indices, batch_shapes, batch_hashes in scan.as_numpy_iterator():
        for index, shape, content_hash in zip(indices, batch_shapes, batch_hashes, strict=True):
            shapes[files[index]] = tuple(int(s) for s in shape)
            hashes[files[index]] = int(content_hash)
            seen.add(int(index))
    corrupt = [i for i in range(len(files)) if i not in seen]
    return shapes, hashes, corrupt


def decode_image_file(path: tf.Tensor, channels: int) -> tf.Tensor:
    """Reads and decodes one PNG/JPEG file to a uint8 `(height, width, channels)` tensor."""
    image = tf.io.decode_image(tf.io.read_file(path), channels=channels, expand_animations=False)
    image.set_shape([None, None, channels])
    return image


def _file_split(files: list[Path], labels: np.ndarray, indices: np.ndarray, channels: int) -> Split:
    paths = np.asarray([str(files[i]) for i in indices])
    split_labels = labels[indices]

    def make_dataset(shuffle_seed: int | None = None) -> tf.data.Dataset:
        dataset = tf.data.Dataset.from_tensor_slices((paths, split_labels))
        if shuffle_seed is not None:
            # Shuffling file names before decoding keeps the buffer small.
            dataset = dataset.shuffle(len(paths), seed=shuffle_seed, reshuffle_each_iteration=True)
        return dataset.map(
            lambda path, label: (decode_image_file(path, channels), label),
            num_parallel_calls=tf.data.AUTOTUNE,
        )

    return Split(labels=split_labels, make_dataset=make_dataset, in_memory=False)


def _check_no_empty_class(
    class_names: tuple[str, ...],
    labels: np.ndarray,
    root: Path,
    after: str,
    what: str = "PNG/JPEG images",
) -> None:
    counts = np.bincount(labels, minlength=len(class_names))
    empty = [name for name, count in zip(class_names, counts, strict=True) if count == 0]
    if empty:
        when = f" {after}" if after else ""
        raise DataError(
            f"The class folder(s) {empty} in '{root}' hold no {what}{when}. "
            "Add some to them or remove the folders."
        )


def ignored_note(ignored: list[Path], root: Path, what: str) -> list[str]:
    """The data note for files skipped because their suffix is not the data's (none if none)."""
    if not ignored:
        return []
    return [f"Ignored {len(ignored)} file(s) that are not {what}: {name_some(ignored, root)}."]


def name_some(files: list[Path], root: Path) -> str:
    """Names up to 10 files relative to `root`, and how many more there are."""
    named = ", ".join(str(f.relative_to(root)) for f in files[:_MAX_NAMED])
    more = len(files) - _MAX_NAMED
    return named + (f" and {more} more" if more > 0 else "")
