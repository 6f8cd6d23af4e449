"""`tfds:NAME` for semantic segmentation: a known TensorFlow Datasets dataset, read into memory.

tfds has no generic segmentation schema: each dataset names its image and
mask features its own way and codes its mask values its own way (Oxford-IIIT
Pet's trimaps hold 1 pet, 2 background, 3 border). So only the datasets of
`RECIPES` are read, each by its recipe; any other data works as a folder of
`images/` and `masks/` (`data.segmentation`).

The images of such datasets differ in size, so every image is resized
bilinearly (then rounded to uint8) and every mask with nearest neighbour (which
never invents a value) to `data.image.size` (default 128x128) as it is read,
and the pairs are held in memory, counted in a note. Raw mask values are
checked before resizing, so a value outside the recipe's mapping is an error
even where resizing would have dropped its pixels.

The dataset's own `test` (and `validation`) split is used where its info lists
it; whatever it lacks is carved from `train`, stratified by image as folders
are (`stratified_parts`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging

import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds

from tasklab.core.config import DataConfig
from tasklab.core.problems import Problem
from tasklab.core.registry import closest_hint
from tasklab.core.segmentation_metrics import IGNORE
from tasklab.data.base import DataError, Dataset, DataSpec, Split, array_split
from tasklab.data.segmentation import KIND, stratified_parts
from tasklab.data.tfds_source import prepare_builder, tfds_builder
from tasklab.edge.image_io import ImageSchema

logger = logging.getLogger(__name__)

DEFAULT_SIZE = (128, 128)  # (height, width) when data.image.size is not set.
_BATCH = 64
_VALUES = 256  # Masks are uint8 images: every raw value is in 0..255.


@dataclasses.dataclass(frozen=True)
class SegmentationRecipe:
    """How one tfds dataset's examples become images and masks of class indices.

    Attributes:
        image: the image feature (an RGB `tfds.features.Image`).
        mask: the mask feature (a one-channel uint8 `tfds.features.Image`).
        class_names: one name per class, in class-index order.
        mapping: `(raw value, class index)` pairs; `IGNORE` as the index marks
            pixels no loss or metric counts. A raw value not listed is an error.
        example_name: a text feature that names an example in messages (the
            file name), if the dataset has one.
    """

    image: str
    mask: str
    class_names: tuple[str, ...]
    mapping: tuple[tuple[int, int], ...]
    example_name: str | None = None

    def lookup(self) -> np.ndarray:
        """A table from every raw value 0..255 to its class index, -1 where unmapped."""
        table = np.full(_VALUES, -1, dtype=np.int16)
        for raw, index in self.mapping:
            table[raw] = index
        return table

    def describe(self) -> str:
        """The mapping in words: `1 -> pet, 2 -> background, 3 -> ignored (255)`."""
        return ", ".join(
            f"{raw} -> {'ignored (255)' if index == IGNORE else self.class_names[index]}"
            for raw, index in self.mapping
        )


RECIPES = {
    # The trimaps: 1 pet, 2 background, 3 the border between them, left unlabelled
    # (not counted) as Pascal VOC leaves its object borders.
    "oxford_iiit_pet": SegmentationRecipe(
        image="image",
        mask="segmentation_mask",
        class_names=("background", "pet"),
        mapping=((1, 1), (2, 0), (3, IGNORE)),
        example_name="file_name",
    ),
}


def load_tfds_segmentation(
    uri: str, name: str, config: DataConfig, seed: int, problem: Problem
) -> Dataset:
    """Reads a known tfds segmentation dataset into memory, at one size, and splits it.

    Args:
        uri: the dataset URI, for messages.
        name: the tfds name, optionally with `/CONFIG` or `:VERSION`.
        config: the data section (fractions, `tfds_data_dir`, `image.size`).
        seed: seeds the carved splits.
        problem: the task's problem (its strata carve the splits).

    Returns:
        The dataset: uint8 images `(height, width, 3)` and uint8 masks
        `(height, width)` of class indices (`IGNORE` where unlabelled), in
        memory; not re-splittable (own splits are kept as they are).

    Raises:
        DataError: for a dataset without a recipe, one not prepared and not
            downloadable (offline), a recipe feature the dataset lacks, a mask
            value outside the recipe's mapping, or too few images to carve.
    """
    base = name.split("/")[0].split(":")[0]
    recipe = recipe_for(base)
    builder = tfds_builder(name, config.tfds_data_dir)
    prepare_builder(builder, name)
    check_features(builder, recipe, name)
    size = tuple(config.image.size or DEFAULT_SIZE)
    own = [split for split in ("validation", "test") if split in builder.info.splits]
    read = {split: read_split(builder, recipe, name, split, size) for split in ("train", *own)}
    carved = [
        fraction
        for split, fraction in (("validation", config.val_fraction), ("test", config.test_fraction))
        if split not in own
    ]
    train_images, train_masks = read["train"]
    parts = iter(carve(problem.strata(train_masks), carved, seed, recipe.class_names))
    train = array_split(train_images, train_masks, next(parts))
    held_out = {
        split: array_split(*read[split], np.arange(len(read[split][1])))
        if split in own
        else array_split(train_images, train_masks, next(parts))
        for split in ("validation", "test")
    }
    sizes = {split: len(masks) for split, (_, masks) in read.items()}
    notes = [f"Uses the dataset's own '{split}' split." for split in own]
    if "test" in own:
        notes.append("data.test_fraction is not used: the dataset has its own test split.")
    notes.append(f"Mask values of {base}: {recipe.describe()}.")
    notes.append(memory_note([train, *held_out.values()], train_images.shape[1:]))
    identity = f"tfds:{builder.info.full_name}:{sorted(sizes.items())}:{size[0]}x{size[1]}"
    spec = DataSpec(
        kind=KIND,
        class_names=recipe.class_names,
        example_shape=(*size, train_images.shape[-1]),
        schema=ImageSchema(),
    )
    return Dataset(
        uri=uri,
        spec=spec,
        train=train,
        val=held_out["validation"],
        test=held_out["test"],
        fingerprint=hashlib.sha256(identity.encode()).hexdigest(),
        notes=tuple(notes),
    )


def recipe_for(base: str) -> SegmentationRecipe:
    """The recipe of a tfds dataset.

    Args:
        base: the tfds name without config or version.

    Returns:
        Its recipe.

    Raises:
        DataError: for a dataset without one, naming the supported ones and the
            folder layout that takes any data.
    """
    if base in RECIPES:
        return RECIPES[base]
    raise DataError(
        f"The tfds dataset '{base}' cannot be read for semantic segmentation: tasklab knows the "
        f"mask features of {sorted(RECIPES)} only. For other data, use a folder of images/ and "
        "masks/ (`data.uri: folder:PATH`)." + closest_hint(base, list(RECIPES))
    )


def check_features(
    builder: tfds.core.DatasetBuilder, recipe: SegmentationRecipe, name: str
) -> None:
    """Checks that the dataset (this version of it) has the recipe's image and mask features.

    Raises:
        DataError: naming the missing feature and the ones the dataset has.
    """
    features = builder.info.features
    for feature in (recipe.image, recipe.mask):
        if feature not in features:
            raise DataError(
                f"The tfds dataset '{name}' (version {builder.info.version}) has no feature "
                f"'{feature}'; it has {sorted(features.keys())}. Use the version tfds prepares "
                "by default (drop `:VERSION` from data.uri)."
            )


def read_split(
    builder: tfds.core.DatasetBuilder,
    recipe: SegmentationRecipe,
    name: str,
    split: str,
    size: tuple[int, int],
) -> tuple[np.ndarray, np.ndarray]:
    """Reads one tfds split at `size`: images bilinearly, masks with nearest neighbour.

    Args:
        builder: the dataset's (prepared) builder.
        recipe: its recipe.
        name: the tfds name, for messages.
        split: the tfds split.
        size: `(height, width)`.

    Returns:
        `(images, masks)`: `(n, height, width, channels)` uint8 and
        `(n, height, width)` uint8 class indices (`IGNORE` where unlabelled).

    Raises:
        DataError: for an empty split, or a raw mask value outside the mapping.
    """
    named = recipe.example_name if recipe.example_name in builder.info.features else None
    keys = [recipe.image, recipe.mask, *([named] if named else [])]
    # Decodes only the features read: the others (labels, boxes) are skipped.
    dataset = builder.as_dataset(
        split=split,
        shuffle_files=False,
        decoders=tfds.decode.PartialDecoding(dict.fromkeys(keys, True)),
    )

    def fit(example: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        image = tf.image.resize(example[recipe.image], size)  # Bilinear, float32.
        mask = example[recipe.mask]
        # Which raw values the full-size mask holds: checked in numpy, before resizing hides any.
        flat = tf.reshape(tf.cast(mask, tf.int32), [-1])
        present = tf.math.bincount(flat, minlength=_VALUES, maxlength=_VALUES) > 0
        fitted = {
            "image": tf.cast(tf.clip_by_value(tf.round(image), 0, 255), tf.uint8),
            "mask": tf.image.resize(mask, size, method="nearest")[..., 0],
            "present": present,
        }
        if named:
            fitted["name"] = example[named]
        return fitted

    logger.info("Reading the tfds split '%s' of %s at %dx%d", split, name, *size)
    batches = list(dataset.map(fit, num_parallel_calls=tf.data.AUTOTUNE).batch(_BATCH))
    if not batches:
        raise DataError(f"The '{split}' split of the tfds dataset '{name}' holds no examples.")
    read = {key: np.concatenate([batch[key].numpy() for batch in batches]) for key in batches[0]}
    table = recipe.lookup()
    check_mask_values(read["present"], table, name, split, read.get("name"))
    return read["image"], table[read["mask"]].astype(np.uint8)


def check_mask_values(
    present: np.ndarray,
    table: np.ndarray,
    name: str,
    split: str,
    example_names: np.ndarray | None,
) -> None:
    """Refuses a raw mask value the recipe does not map (it is never guessed).

    Args:
        present: `(examples, 256)` whether each example's mask holds each raw value.
        table: the recipe's lookup table (-1 where unmapped).
        name: the tfds name, for the message.
        split: the split, for the message.
        example_names: each example's name (bytes), or None.

    Raises:
        DataError: naming the dataset, the split, the first such example (its index
            in the split's order, and its name) and the value.
    """
    examples, values = np.nonzero(present & (table < 0)[None, :])
    if not len(examples):
        return
    index, value = int(examples[0]), int(values[0])
    called = f" ('{example_names[index].decode()}')" if example_names is not None else ""
    others = len(set(examples.tolist())) - 1
    more = f" ({others:,} other example(s) hold unmapped values too)" if others else ""
    mapped = sorted(int(raw) for raw in np.flatnonzero(table >= 0))
    raise DataError(
        f"The tfds dataset '{name}', split '{split}', example {index}{called}: its mask holds the "
        f"value {value}, which tasklab does not map to a class (mapped: {mapped}){more}. The "
        "prepared data may be another version or corrupt: prepare it again with `tfds build "
        f"{name}`."
    )


def carve(
    strata: np.ndarray, fractions: list[float], seed: int, class_names: tuple[str, ...]
) -> list[np.ndarray]:
    """The train indices, then one index array per fraction carved from them.

    Args:
        strata: each train image's stratum (`Problem.strata`).
        fractions: the fractions to carve (none when the dataset has its own splits).
        seed: seeds the carving.
        class_names: the classes, for messages.

    Returns:
        `[train, *carved]` index arrays.
    """
    if not fractions:
        return [np.arange(len(strata))]
    return stratified_parts(strata, tuple(fractions), seed, class_names)


def memory_note(splits: list[Split], image_shape: tuple[int, ...]) -> str:
    """Says how many images the splits hold in memory, at what size, and the bytes they take.

    Args:
        splits: the train, val and test splits.
        image_shape: one image's `(height, width, channels)`.

    Returns:
        The note.
    """
    count = sum(len(split) for split in splits)
    images = count * int(np.prod(image_shape))  # uint8: one byte a sample.
    masks = sum(split.labels.nbytes for split in splits)
    height, width = image_shape[:2]
    return (
        f"Read {count:,} images and their masks into memory at {height}x{width} "
        "(data.image.size; images bilinearly, masks with nearest neighbour): "
        f"{images / 2**20:,.1f} MiB of uint8 images and {masks / 2**20:,.1f} MiB of masks "
        f"({splits[0].labels.dtype} labels)."
    )
