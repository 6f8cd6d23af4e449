"""Segmentation datasets: a folder of images and masks, read into memory, split by image.

`folder:PATH` holds `images/NAME.*`, `masks/NAME.png` and optionally
`classes.txt` (see `data.masks`, which pairs and checks them). Images are
decoded by the TensorFlow decoder the image folder and the edge bundle use;
masks by Pillow, as class indices (a palette PNG's indices, as Pascal VOC
ships). Every pair is brought to the most common image size: images
bilinearly, masks with nearest neighbour, and a note counts them.

Splits are stratified by image (`Problem.strata`: the rarest class each image
holds), so every split sees the rare classes; groups too small to be split
are pooled.
"""

from __future__ import annotations

import collections
import hashlib
import logging
from pathlib import Path

import numpy as np
import tensorflow as tf

from tasklab.core.config import DataConfig
from tasklab.core.problems import Problem
from tasklab.data.base import DataError, Dataset, DataSpec, array_dataset, split_indices
from tasklab.data.folder import model_channels, pixel_notes, scan_images, skip_unreadable
from tasklab.data.images import decode_image_file
from tasklab.data.masks import pair_images_and_masks, resize_mask, scan_masks
from tasklab.edge.image_io import ImageSchema

logger = logging.getLogger(__name__)

KIND = "segmentation"  # The DataSpec kind: images whose labels are masks.


def load_segmentation_folder(
    uri: str, path: str, config: DataConfig, seed: int, problem: Problem
) -> Dataset:
    """Reads a folder of images and masks and splits it by image.

    Args:
        uri: the dataset URI, for messages.
        path: the folder holding `images/` and `masks/`.
        config: the data section (fractions, skip_corrupt, image, max_pixels).
        seed: seeds the split.
        problem: the task's problem (its strata split the images).

    Returns:
        The dataset: float32 images `(height, width, channels)` in 0..255 and
        uint8 masks `(height, width)`, in memory.

    Raises:
        DataError: naming the file and the fix, for what `data.masks` refuses,
            an image TensorFlow cannot decode (unless `data.skip_corrupt`), or
            too few images to split.
    """
    root = Path(path).expanduser()
    pairs, notes = pair_images_and_masks(root, config.skip_corrupt)
    scan = scan_masks(root, pairs, config.skip_corrupt, config.max_pixels)
    notes += scan.notes
    schema = ImageSchema(
        alpha=config.image.alpha,
        background=config.image.background_rgb,
        max_pixels=config.max_pixels,
    )
    logger.info("Checking %d images and masks in %s", len(scan.pairs), root)
    scanned, corrupt = scan_images([pair.image for pair in scan.pairs], schema)
    reasons = [f"'{scan.pairs[i].image}' could not be decoded." for i in corrupt]
    notes += skip_unreadable(reasons, root, "image", "could not be decoded", config.skip_corrupt)
    decodable = np.setdiff1d(np.arange(len(scan.pairs)), corrupt)
    pairs = [scan.pairs[i] for i in decodable]
    facts = [scanned[pair.image] for pair in pairs]
    channels = model_channels(facts, schema)
    notes += pixel_notes(facts, channels, config.image)
    sizes = collections.Counter(fact.shape[:2] for fact in facts)
    (height, width), _ = sizes.most_common(1)[0]
    images = decode_images([pair.image for pair in pairs], channels, schema, (height, width))
    masks = np.stack([fit_mask(scan.masks[i], height, width) for i in decodable])
    resized = sum(count for size, count in sizes.items() if size != (height, width))
    if resized:
        notes.append(
            f"Resized {resized} of {len(pairs)} image(s) and their masks to the most common size, "
            f"{height}x{width} (images bilinearly, masks with nearest neighbour)."
        )
    parts = stratified_parts(
        problem.strata(masks),
        (config.val_fraction, config.test_fraction),
        seed,
        scan.class_names,
    )
    fingerprint = hashlib.sha256()
    for pair, fact in zip(pairs, facts, strict=True):
        fingerprint.update(f"{pair.stem}\0{fact.hash}\n".encode())
    fingerprint.update(masks.tobytes())
    spec = DataSpec(
        kind=KIND,
        class_names=scan.class_names,
        example_shape=(height, width, channels),
        schema=schema,
    )
    # Not re-splittable yet: the comparison's cross-validation stratifies by class labels.
    return array_dataset(
        uri, spec, images, masks, parts, notes, fingerprint.hexdigest(), resplittable=False
    )


def decode_images(
    files: list[Path], channels: int, schema: ImageSchema, size: tuple[int, int]
) -> np.ndarray:
    """Decodes image files as float32 0..255 pixels of one size (bilinear where it differs)."""

    def decode(path: tf.Tensor) -> tf.Tensor:
        image = decode_image_file(path, channels, schema)
        if tuple(image.shape[:2]) == size:
            return image
        return tf.cond(
            tf.reduce_all(tf.shape(image)[:2] == size),
            lambda: image,
            lambda: tf.image.resize(image, size),
        )

    images = (
        tf.data.Dataset.from_tensor_slices([str(file) for file in files])
        .map(decode, num_parallel_calls=tf.data.AUTOTUNE)
        .map(lambda image: tf.ensure_shape(image, (*size, channels)))
        .batch(64)
    )
    return np.concatenate(list(images.as_numpy_iterator())).astype(np.float32)


def fit_mask(mask: np.ndarray, height: int, width: int) -> np.ndarray:
    """The mask at `height` x `width` (nearest neighbour where it differs)."""
    if mask.shape == (height, width):
        return mask
    return resize_mask(mask, (width, height))


def stratified_parts(
    strata: np.ndarray,
    fractions: tuple[float, float],
    seed: int,
    class_names: tuple[str, ...],
) -> list[np.ndarray]:
    """Train, val and test image indices, each with the strata's proportions.

    A stratum (the rarest class an image holds) with fewer images than parts
    cannot be spread over them; such strata are pooled into the largest one.

    Raises:
        DataError: when there are too few images for three parts.
    """
    strata = np.asarray(strata)
    needed = len(fractions) + 1
    if len(strata) < 2 * needed:
        raise DataError(
            f"A segmentation dataset needs at least {2 * needed} image(s) to split into train, "
            f"validation and test; this one has {len(strata)}. Add images."
        )
    counts = collections.Counter(strata.tolist())
    largest = counts.most_common(1)[0][0]
    pooled = np.array([s if counts[s] >= needed else largest for s in strata.tolist()])
    groups = sorted(set(pooled.tolist()))
    codes = np.searchsorted(groups, pooled)
    names = tuple(f"images whose rarest class is {class_names[g]}" for g in groups)
    return split_indices(codes, fractions, seed, names)
