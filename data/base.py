"""The types every data source returns, and the seeded stratified splitter."""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable, Hashable, Sequence
from typing import Any

import numpy as np
import tensorflow as tf
from sklearn.model_selection import train_test_split

from tasklab.core.errors import UserError, name_some


class DataError(UserError, ValueError):
    """The data cannot be used as given; the message names the problem and the fix."""


@dataclasses.dataclass(frozen=True)
class DataSpec:
    """What a task needs to know about the data to build its model.

    Attributes:
        kind: the kind of input, e.g. `image` or `tabular`.
        class_names: one name per class, in label order; empty for regression.
        example_shape: the native shape of one input, e.g. `(8, 8, 1)` for
            digits; for images of mixed sizes, the most common size.
        schema: for tabular data, the fitted encoding (columns, feature names,
            normalization statistics); None otherwise.
    """

    kind: str
    class_names: tuple[str, ...]
    example_shape: tuple[int, ...]
    schema: Any = None

    @property
    def num_classes(self) -> int:
        return len(self.class_names)


@dataclasses.dataclass(frozen=True)
class Split:
    """One split of a dataset, in a fixed order.

    Attributes:
        labels: the class index of every example, in the split's order.
        make_dataset: returns the unbatched `(input, label)` tf.data pipeline.
            Called with `shuffle_seed=None` it yields the examples in the order
            of `labels`; with a seed, in an order reshuffled every epoch.
        in_memory: whether the inputs already sit in memory, so that caching
            the preprocessed examples costs nothing extra. Streamed sources
            (folders, tfds) are never cached whole.
        frame: for tabular data, the split's typed columns (numeric floats,
            pandas categoricals) as classical baselines take them; else None.
    """

    labels: np.ndarray
    make_dataset: Callable[..., tf.data.Dataset]
    in_memory: bool
    frame: Any = None

    def __len__(self) -> int:
        return len(self.labels)


@dataclasses.dataclass(frozen=True)
class Dataset:
    """A dataset resolved from its URI: splits, class names and provenance.

    Attributes:
        uri: the URI it was loaded from.
        spec: what the task needs to know to build its model.
        train: the split the model is fitted on.
        val: the split for early stopping and checkpoint selection.
        test: the held-out split every reported metric is computed on.
        fingerprint: a hash of the data's content (or of its identity and
            version for tfds), recorded in the manifest.
        notes: what loading did that a user should know (files skipped, sizes).
        pool_labels: the labels (or targets) of every example, in pool order,
            when the source can re-split them; None otherwise (tfds streams).
        resplit: `resplit(train, val, test)` builds the same dataset with other
            splits, given index arrays into the pool (for cross-validation;
            per-split preprocessing is refitted on the new train part).
    """

    uri: str
    spec: DataSpec
    train: Split
    val: Split
    test: Split
    fingerprint: str
    notes: tuple[str, ...] = ()
    pool_labels: np.ndarray | None = None
    resplit: Callable[[np.ndarray, np.ndarray, np.ndarray], Dataset] | None = None

    def split_sizes(self) -> dict[str, int]:
        """Returns the number of examples in each split."""
        return {"train": len(self.train), "val": len(self.val), "test": len(self.test)}


@dataclasses.dataclass(frozen=True)
class Duplicates:
    """The sets of examples with the same content, as `find_duplicates` found them.

    Attributes:
        keep: the indices kept, ascending: every example without a copy, and
            the first of each set whose copies share one label.
        repeated: the sets (indices, ascending) whose copies share one label.
        conflicting: the sets whose copies carry different labels; none of
            their members is kept.
    """

    keep: np.ndarray
    repeated: tuple[tuple[int, ...], ...]
    conflicting: tuple[tuple[int, ...], ...]

    @property
    def dropped(self) -> int:
        """How many examples are left out."""
        return sum(len(s) - 1 for s in self.repeated) + sum(len(s) for s in self.conflicting)


def find_duplicates(keys: Sequence[Hashable], labels: Sequence[Hashable]) -> Duplicates:
    """Finds examples with equal keys, so that no example is in two splits.

    A copy in train and another in test would test the model on what it
    trained on, so of copies that share a label only the first is kept. Copies
    filed under different labels contradict each other, and keeping any of
    them would pick a label by file order: none is kept. Every loader of
    examples that can repeat (files, texts) goes through here, with its own key
    (a content hash, the text itself).

    Args:
        keys: one key per example; equal keys mean equal content.
        labels: one label per example.

    Returns:
        What to keep, and the sets found.
    """
    members: dict[Hashable, list[int]] = {}
    for index, key in enumerate(keys):
        members.setdefault(key, []).append(index)
    repeated, conflicting, drop = [], [], set()
    for indices in members.values():
        if len(indices) < 2:
            continue
        if len({labels[i] for i in indices}) == 1:
            repeated.append(tuple(indices))
            drop.update(indices[1:])
        else:
            conflicting.append(tuple(indices))
            drop.update(indices)
    keep = np.asarray([i for i in range(len(keys)) if i not in drop], dtype=np.int64)
    return Duplicates(keep=keep, repeated=tuple(repeated), conflicting=tuple(conflicting))


def split_indices(
    labels: np.ndarray,
    fractions: Sequence[float],
    seed: int,
    class_names: Sequence[str] | None,
) -> list[np.ndarray]:
    """Splits example indices into parts, each with the class proportions of the whole.

    Args:
        labels: class index per example (or target values for regression).
        fractions: the fraction of each held-out part, e.g. `(val, test)`; the
            remainder is the first part returned (train).
        seed: seeds the split.
        class_names: the classes, to stratify by and name in errors; None for
            regression targets, which are split at random (seeded).

    Returns:
        Sorted index arrays: the remainder first, then one per fraction.

    Raises:
        DataError: when a class has too few examples to appear in every part.
    """
    if class_names is None:
        return _random_indices(len(labels), fractions, seed)
    counts = np.bincount(labels, minlength=len(class_names))
    needed = len(fractions) + 1
    too_small = [(class_names[i], int(c)) for i, c in enumerate(counts) if c < needed]
    if too_small:
        described = name_some([f"'{name}' ({count})" for name, count in too_small])
        raise DataError(
            f"Every class needs at least {needed} examples to appear in each split; "
            f"{len(too_small):,} of the {len(class_names):,} classes have fewer: {described}. "
            "Add examples to them or remove those classes."
        )
    rest = np.arange(len(labels))
    parts = []
    for fraction in fractions:
        # An exact count of the whole (no float drift), and at least one example per class.
        count = max(len(class_names), round(fraction * len(labels)))
        try:
            rest, held_out = train_test_split(
                rest, test_size=count, stratify=labels[rest], random_state=seed
            )
        except ValueError as error:
            raise DataError(
                f"Cannot split {len(labels)} examples into stratified parts of fractions "
                f"{list(fractions)}: {error} Use larger fractions or add examples."
            ) from None
        parts.append(np.sort(held_out))
    return [np.sort(rest), *parts]


def _random_indices(count: int, fractions: Sequence[float], seed: int) -> list[np.ndarray]:
    order = np.random.default_rng(seed).permutation(count)
    sizes = [max(1, round(fraction * count)) for fraction in fractions]
    if sum(sizes) >= count:
        raise DataError(
            f"Cannot hold out fractions {list(fractions)} of {count} examples and keep any for "
            "training. Add examples or use smaller fractions."
        )
    parts, start = [], count - sum(sizes)
    for size in sizes:
        parts.append(np.sort(order[start : start + size]))
        start += size
    return [np.sort(order[: count - sum(sizes)]), *parts]


def array_split(x: np.ndarray, y: np.ndarray, indices: np.ndarray) -> Split:
    """Makes a split over in-memory arrays.

    Args:
        x: all inputs.
        y: all labels.
        indices: the examples of this split.

    Returns:
        The split; its pipeline slices the arrays once.
    """
    xs = x[indices]
    ys = y[indices] if y.dtype.kind == "f" else y[indices].astype(np.int64)

    def make_dataset(shuffle_seed: int | None = None) -> tf.data.Dataset:
        dataset = tf.data.Dataset.from_tensor_slices((xs, ys))
        if shuffle_seed is not None:
            dataset = dataset.shuffle(len(ys), seed=shuffle_seed, reshuffle_each_iteration=True)
        return dataset

    return Split(labels=ys, make_dataset=make_dataset, in_memory=True)


def array_dataset(
    uri: str,
    spec: DataSpec,
    inputs: np.ndarray,
    labels: np.ndarray,
    parts: Sequence[np.ndarray],
    notes: Sequence[str] = (),
    fingerprint: str | None = None,
    resplittable: bool = True,
) -> Dataset:
    """A dataset over in-memory arrays, split by index.

    Args:
        uri: the URI it was loaded from.
        spec: what the data looks like.
        inputs: every example's input.
        labels: every example's label.
        parts: the train, val and test indices.
        notes: what loading did, for the user.
        fingerprint: the data's identity (default: a hash of the arrays).
        resplittable: whether cross-validation may re-split the pool (not
            when the parts keep groups apart, e.g. speakers).

    Returns:
        The dataset; its `resplit` builds the same dataset over other indices.
    """
    fingerprint = fingerprint or fingerprint_arrays(inputs, labels)

    def resplit(train: np.ndarray, val: np.ndarray, test: np.ndarray) -> Dataset:
        return Dataset(
            uri=uri,
            spec=spec,
            train=array_split(inputs, labels, train),
            val=array_split(inputs, labels, val),
            test=array_split(inputs, labels, test),
            fingerprint=fingerprint,
            notes=tuple(notes),
            pool_labels=labels if resplittable else None,
            resplit=resplit if resplittable else None,
        )

    return resplit(*parts)


def fingerprint_arrays(*arrays: np.ndarray) -> str:
    """Returns a SHA-256 over the arrays' shapes, dtypes and bytes."""
    digest = hashlib.sha256()
    for array in arrays:
        digest.update(f"{array.shape}{array.dtype}".encode())
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()
