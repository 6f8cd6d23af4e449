"""Shared fixtures. Splits the CPU into two logical devices before TensorFlow starts,
so `mirrored` runs with 2 replicas can be tested in this process."""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import pytest
from PIL import Image

from tasklab.training.strategy import split_cpu

split_cpu(2)  # Must run before any other TensorFlow work in this process.

REPO = Path(__file__).resolve().parents[1]


def tabular_spec(
    features: np.ndarray,
    class_names: tuple[str, ...] = ("no", "yes"),
    columns: tuple = (),
    feature_names: tuple[str, ...] | None = None,
    target_mean: float = 0.0,
    target_std: float = 1.0,
):
    """A tabular `DataSpec` whose schema holds the statistics of `features` (as the loader fits)."""
    from tasklab.data.base import DataSpec
    from tasklab.data.tabular import TabularSchema

    schema = TabularSchema(
        columns=columns,
        target="y",
        feature_names=feature_names or tuple(f"f{i}" for i in range(features.shape[1])),
        feature_mean=tuple(features.mean(axis=0).tolist()),
        feature_variance=tuple(features.var(axis=0).tolist()),
        target_mean=target_mean,
        target_std=target_std,
    )
    return DataSpec("tabular", class_names, (features.shape[1],), schema)


def write_image(path: Path, array: np.ndarray) -> Path:
    """Writes a uint8 array as PNG or JPEG (by suffix)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array.squeeze() if array.shape[-1] == 1 else array).save(path)
    return path


def class_pattern(label: int, size: int, rng: np.random.Generator) -> np.ndarray:
    """A noisy image whose bright band's position encodes the class, so a model can learn it."""
    image = rng.integers(0, 60, size=(size, size, 3), dtype=np.uint8)
    band = slice(label * size // 4, (label + 1) * size // 4)
    image[band, :, :] = 220
    return image


@pytest.fixture
def image_folder(tmp_path: Path):
    """Returns a function that writes a class-per-sub-folder dataset of PNGs."""

    def make(
        classes=("circle", "square", "triangle"), per_class=12, size=16, suffix=".png"
    ) -> Path:
        rng = np.random.default_rng(0)
        root = tmp_path / "images"
        for label, name in enumerate(classes):
            for i in range(per_class):
                write_image(root / name / f"{i:03d}{suffix}", class_pattern(label, size, rng))
        return root

    return make
