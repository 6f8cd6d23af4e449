"""Offline built-in datasets: `builtin:NAME`, data that ships with installed packages."""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable

import numpy as np
from sklearn import datasets as sklearn_datasets

from pipelines.data.base import Dataset, DataSpec, array_split, stratified_indices
from pipelines.registry import Registry


@dataclasses.dataclass(frozen=True)
class BuiltinDataset:
    """A built-in dataset: its loader and a one-line description for `tasklab datasets`."""

    load: Callable[[str, float, float, int], Dataset]
    kind: str
    description: str


BUILTIN_DATASETS: Registry[BuiltinDataset] = Registry("built-in dataset")


def fingerprint_arrays(*arrays: np.ndarray) -> str:
    """Returns a SHA-256 over the arrays' shapes, dtypes and bytes."""
    digest = hashlib.sha256()
    for array in arrays:
        digest.update(f"{array.shape}{array.dtype}".encode())
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()


def load_digits(uri: str, val_fraction: float, test_fraction: float, seed: int) -> Dataset:
    """sklearn's bundled 8x8 handwritten digits (1,797 images, 10 classes).

    The 0..16 intensities become uint8 0..255 images of shape (8, 8, 1), so
    they flow through the same image pipeline as PNG files.
    """
    bunch = sklearn_datasets.load_digits()
    images = np.rint(bunch.images * (255.0 / 16.0)).astype(np.uint8)[..., np.newaxis]
    labels = bunch.target.astype(np.int64)
    class_names = tuple(str(name) for name in bunch.target_names)
    train, val, test = stratified_indices(labels, (val_fraction, test_fraction), seed, class_names)
    return Dataset(
        uri=uri,
        spec=DataSpec(kind="image", class_names=class_names, example_shape=images.shape[1:]),
        train=array_split(images, labels, train),
        val=array_split(images, labels, val),
        test=array_split(images, labels, test),
        fingerprint=fingerprint_arrays(images, labels),
    )


BUILTIN_DATASETS.register("digits")(
    BuiltinDataset(
        load=load_digits,
        kind="image",
        description="handwritten digits 0-9, 1,797 grayscale 8x8 images (scikit-learn)",
    )
)
