from __future__ import annotations

import numpy as np
import pytest

from tasklab.core.config import ConfigError, DataConfig
from tasklab.data import BUILTIN_DATASETS, load_dataset


def test_digits_are_uint8_images_in_stratified_splits():
    dataset = load_dataset(
        DataConfig(uri="builtin:digits", val_fraction=0.1, test_fraction=0.2), seed=0
    )
    assert dataset.spec.example_shape == (8, 8, 1)
    assert dataset.spec.class_names == tuple(str(i) for i in range(10))
    assert sum(dataset.split_sizes().values()) == 1797
    assert abs(len(dataset.test) - 0.2 * 1797) <= 1
    for split in (dataset.train, dataset.val, dataset.test):
        counts = np.bincount(split.labels, minlength=10)
        np.testing.assert_allclose(counts / len(split), 0.1, atol=0.02)
    image, label = next(dataset.train.make_dataset().as_numpy_iterator())
    assert image.dtype == np.uint8 and image.max() <= 255 and image.shape == (8, 8, 1)
    assert label == dataset.train.labels[0]


def test_splits_are_disjoint_and_seeded():
    config = DataConfig(uri="builtin:digits")

    def rows(dataset, split):
        return {
            x.tobytes() + bytes([y])
            for x, y in getattr(dataset, split).make_dataset().as_numpy_iterator()
        }

    first, again, other = load_dataset(config, 0), load_dataset(config, 0), load_dataset(config, 1)
    assert rows(first, "test") == rows(again, "test") != rows(other, "test")
    assert first.fingerprint == other.fingerprint
    # Digits has a few duplicate images; distinct (image, label) rows barely overlap across splits.
    assert len(rows(first, "train") & rows(first, "test")) <= 5


def test_unknown_builtin_and_scheme():
    assert "digits" in BUILTIN_DATASETS
    with pytest.raises(
        ConfigError, match=r"Unknown built-in dataset 'digit'.*Did you mean 'digits'"
    ):
        load_dataset(DataConfig(uri="builtin:digit"), 0)
    with pytest.raises(
        ConfigError, match=r"scheme must be one of \['builtin', 'folder', 'tfds', 'csv'\].*'folder'"
    ):
        load_dataset(DataConfig(uri="foldr:/tmp"), 0)
