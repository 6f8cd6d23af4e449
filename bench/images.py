"""Generated image-folder datasets for the benchmarks: one sub-folder per shape class of
grayscale PNGs, as a user's `folder:PATH` dataset is laid out."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

SHAPES = ("circle", "square", "triangle", "cross")


def write_shapes_folder(root: Path, count: int, size: int = 16, seed: int = 0) -> Path:
    """Writes `count` PNGs of `size`x`size` pixels, split evenly over the shape classes.

    Each image is one shape of random size and position drawn on a noisy
    background, so a small CNN can learn the classes but not trivially.

    Args:
        root: the dataset folder (created; files already there are overwritten).
        count: images in all.
        size: height and width in pixels.
        seed: seeds the shapes and the noise.

    Returns:
        `root`.
    """
    rng = np.random.default_rng(seed)
    for index in range(count):
        shape = SHAPES[index % len(SHAPES)]
        folder = root / shape
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(draw_shape(shape, size, rng)).save(folder / f"{index:06d}.png")
    return root


def draw_shape(shape: str, size: int, rng: np.random.Generator) -> np.ndarray:
    """One grayscale image of `shape` on a noisy background, as uint8 `(size, size)`."""
    image = Image.fromarray(rng.integers(0, 80, size=(size, size), dtype=np.uint8))
    pen = ImageDraw.Draw(image)
    extent = int(rng.integers(size // 3, size - 2))
    left, top = (int(v) for v in rng.integers(0, size - extent, size=2))
    right, bottom = left + extent, top + extent
    brightness = int(rng.integers(170, 256))
    if shape == "circle":
        pen.ellipse((left, top, right, bottom), fill=brightness)
    elif shape == "square":
        pen.rectangle((left, top, right, bottom), fill=brightness)
    elif shape == "triangle":
        pen.polygon([(left, bottom), (right, bottom), ((left + right) // 2, top)], fill=brightness)
    else:
        middle_x, middle_y, half = (left + right) // 2, (top + bottom) // 2, max(1, extent // 6)
        pen.rectangle((middle_x - half, top, middle_x + half, bottom), fill=brightness)
        pen.rectangle((left, middle_y - half, right, middle_y + half), fill=brightness)
    return np.asarray(image)


def folder_config(root: Path, path: Path, epochs: int, name: str = "shapes") -> Path:
    """Writes a run config for the folder at `root`: the small CNN, as `configs/digits.yaml`.

    Returns:
        The config file `path`.
    """
    path.write_text(
        f"""name: {name}
task: image_classification
seed: 42
data:
  uri: folder:{root}
  val_fraction: 0.15
  test_fraction: 0.2
model:
  name: small_cnn
  filters: 32
  dropout: 0.2
train:
  epochs: {epochs}
  batch_size: 32
  learning_rate: 0.003
  patience: null
strategy:
  name: cpu
baselines: []
export:
  variants: []
explain:
  methods: []
""",
        encoding="utf-8",
    )
    return path
