"""Textured shapes on cluttered, textured backgrounds: an offline segmentation dataset.

Each scene is a background (a smooth colour field with fine grain, crossed by
clutter: thin strokes and small blobs) with one to four objects drawn over it,
later ones occluding earlier ones. An object's class is its shape (disc, box,
triangle); its colours are drawn from the same distribution as the clutter's
and its texture (stripes, checks, speckle) from the same set for every class.
So no colour says "object" or which one: a per-pixel colour classifier does
little better than guessing (the tests measure it), and a model must learn
the outline and the texture that set an object off from its surroundings.

Generation is deterministic: scene `i` comes from its own seed, so any subset
is the same scenes whichever count was asked for. `write_scenes` writes them
as a segmentation folder (`images/NNNNN.png`, `masks/NNNNN.png`, `classes.txt`)
staged and renamed, so the cache is the format users bring.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import shutil
from pathlib import Path

import numpy as np
from PIL import Image

from tasklab.core import io
from tasklab.core.config import DataConfig
from tasklab.core.problems import SEGMENTATION
from tasklab.core.source_options import TexturedShapesOptions
from tasklab.data.base import Dataset

logger = logging.getLogger(__name__)

CLASS_NAMES = ("background", "disc", "box", "triangle")
DEFAULT_CACHE = Path("~/.cache/tasklab/textured_shapes")
GENERATOR_VERSION = 1  # Bump when the scenes made from the same parameters change.
TEXTURES = ("stripes", "checks", "speckle")


@dataclasses.dataclass(frozen=True)
class SceneSpec:
    """What the scenes look like.

    Attributes:
        scenes: how many.
        size: height and width in pixels.
        max_objects: objects per scene, drawn from 1 to this.
        object_size: the smallest and largest object extent, as fractions of `size`.
        clutter: strokes and blobs per scene, drawn from 0 to this.
        seed: seeds every scene (scene `i` uses `seed` and `i`).
    """

    scenes: int = 600
    size: int = 64
    max_objects: int = 4
    object_size: tuple[float, float] = (0.2, 0.45)
    clutter: int = 12
    seed: int = 0

    def cache_key(self) -> str:
        """A hash of every parameter and the generator's version."""
        parameters = {"generator": GENERATOR_VERSION, **dataclasses.asdict(self)}
        return hashlib.sha256(json.dumps(parameters, sort_keys=True).encode()).hexdigest()[:20]


def render_scene(spec: SceneSpec, index: int) -> tuple[np.ndarray, np.ndarray]:
    """Renders scene `index`.

    Returns:
        The image, `(size, size, 3)` uint8, and its mask, `(size, size)` uint8
        class indices (`CLASS_NAMES`).
    """
    rng = np.random.default_rng([spec.seed, index])
    size = spec.size
    rows, cols = np.mgrid[0:size, 0:size].astype(np.float64)
    image = background(rng, rows, cols, spec.clutter)
    mask = np.zeros((size, size), dtype=np.uint8)
    for _ in range(rng.integers(1, spec.max_objects + 1)):
        label = int(rng.integers(1, len(CLASS_NAMES)))
        extent = rng.uniform(*spec.object_size) * size
        region = shape_region(rng, CLASS_NAMES[label], rows, cols, extent)
        image[region] = texture(rng, rows, cols)[region]
        mask[region] = label
    return np.clip(image, 0, 255).astype(np.uint8), mask


def background(
    rng: np.random.Generator, rows: np.ndarray, cols: np.ndarray, clutter: int
) -> np.ndarray:
    """A smooth colour field with grain, crossed by up to `clutter` thin strokes and small blobs."""
    size = rows.shape[0]
    corners = random_colors(rng, 4)
    u, v = rows / (size - 1), cols / (size - 1)
    field = (
        corners[0] * ((1 - u) * (1 - v))[..., None]
        + corners[1] * ((1 - u) * v)[..., None]
        + corners[2] * (u * (1 - v))[..., None]
        + corners[3] * (u * v)[..., None]
    )
    field += rng.normal(0, 12, field.shape)
    for _ in range(rng.integers(0, clutter + 1)):
        color = random_colors(rng, 1)[0]
        if rng.random() < 0.5:  # A stroke: a thin band across part of the scene.
            angle = rng.uniform(0, np.pi)
            offset = rng.uniform(0, size)
            distance = np.abs(np.cos(angle) * cols + np.sin(angle) * rows - offset)
            centre = rng.uniform(0, size, 2)
            near = np.hypot(rows - centre[0], cols - centre[1]) < rng.uniform(0.2, 0.6) * size
            field[(distance < rng.uniform(0.6, 1.6)) & near] = color
        else:  # A blob: smaller than any object.
            centre = rng.uniform(0, size, 2)
            radius = rng.uniform(0.02, 0.06) * size
            field[np.hypot(rows - centre[0], cols - centre[1]) < radius] = color
    return field


def shape_region(
    rng: np.random.Generator, shape: str, rows: np.ndarray, cols: np.ndarray, extent: float
) -> np.ndarray:
    """The pixels of one disc, box or triangle of about `extent` pixels, placed at random."""
    size = rows.shape[0]
    centre = rng.uniform(0.15 * size, 0.85 * size, 2)
    angle = rng.uniform(0, 2 * np.pi)
    # Coordinates relative to the centre, rotated by the shape's angle.
    y, x = rows - centre[0], cols - centre[1]
    along = np.cos(angle) * x + np.sin(angle) * y
    across = -np.sin(angle) * x + np.cos(angle) * y
    if shape == "disc":
        aspect = rng.uniform(0.75, 1.0)  # Slightly elliptic.
        return (along / (extent / 2)) ** 2 + (across / (extent * aspect / 2)) ** 2 <= 1
    if shape == "box":
        aspect = rng.uniform(0.5, 1.0)
        return (np.abs(along) <= extent / 2) & (np.abs(across) <= extent * aspect / 2)
    # A triangle: three half-planes, its corners on a circle at irregular angles.
    corners = angle + np.array([0.0, 2.1, 4.2]) + rng.uniform(-0.3, 0.3, 3)
    vertices = np.stack([np.sin(corners), np.cos(corners)], axis=1) * extent / 1.6 + centre
    sides = [
        (bx - ax) * (rows - ay) - (by - ay) * (cols - ax)
        for (ay, ax), (by, bx) in ((vertices[0], vertices[1]), (vertices[1], vertices[2]),
                                   (vertices[2], vertices[0]))
    ]  # fmt: skip
    # Inside: on the same side of all three edges (whichever way round the corners go).
    return np.all([side <= 0 for side in sides], axis=0) | np.all(
        [side >= 0 for side in sides], axis=0
    )


def texture(rng: np.random.Generator, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """A two-colour pattern over the whole scene (stripes, checks or speckle), with grain."""
    first, second = random_colors(rng, 2)
    kind = TEXTURES[rng.integers(len(TEXTURES))]
    angle = rng.uniform(0, np.pi)
    along = np.cos(angle) * cols + np.sin(angle) * rows
    across = -np.sin(angle) * cols + np.cos(angle) * rows
    period = rng.uniform(3, 7)
    if kind == "stripes":
        pattern = np.sin(2 * np.pi * along / period) > 0
    elif kind == "checks":
        pattern = (np.floor(along / period) + np.floor(across / period)) % 2 == 0
    else:
        pattern = rng.random(rows.shape) < 0.5
    colors = np.where(pattern[..., None], first, second)
    return colors + rng.normal(0, 12, colors.shape)


def random_colors(rng: np.random.Generator, count: int) -> np.ndarray:
    """`count` RGB colours drawn uniformly: objects, strokes and background share them."""
    return rng.uniform(0, 255, (count, 3))


def write_scenes(spec: SceneSpec, folder: Path) -> Path:
    """Writes the scenes as a segmentation folder, atomically (staged, then renamed).

    Args:
        spec: the scenes.
        folder: the folder to create (replaced if it exists).

    Returns:
        `folder`, holding `images/`, `masks/` and `classes.txt`.
    """
    # One staging folder per process: two runs generating the same scenes must not write into
    # (or delete) each other's; the last rename wins with identical contents.
    staging = folder.with_name(f".{folder.name}.partial-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    (staging / "images").mkdir(parents=True)
    (staging / "masks").mkdir()
    for index in range(spec.scenes):
        image, mask = render_scene(spec, index)
        Image.fromarray(image).save(staging / "images" / f"{index:05d}.png")
        Image.fromarray(mask).save(staging / "masks" / f"{index:05d}.png")
    (staging / "classes.txt").write_text("\n".join(CLASS_NAMES) + "\n", encoding="utf-8")
    io.write_json(staging / "scenes.json", dataclasses.asdict(spec))
    io.replace_dir(staging, folder)
    return folder


def cached_scenes(spec: SceneSpec, cache_dir: Path) -> tuple[Path, bool]:
    """The scenes' folder under `cache_dir`: read if present, else generated and written.

    Returns:
        The folder and whether it was generated now.
    """
    folder = Path(cache_dir).expanduser() / spec.cache_key()
    if (folder / "scenes.json").is_file():
        return folder, False
    return write_scenes(spec, folder), True


def scene_spec(options: TexturedShapesOptions) -> SceneSpec:
    """The scenes the `data.scenes` section asks for."""
    return SceneSpec(
        scenes=options.scenes,
        size=options.size,
        max_objects=options.max_objects,
        clutter=options.clutter,
        seed=options.seed,
    )


def load_textured_shapes(uri: str, config: DataConfig, seed: int) -> Dataset:
    """`builtin:textured_shapes`: the scenes of `data.scenes`, generated on first use.

    Args:
        uri: the dataset URI, for messages.
        config: the data section (`scenes`, fractions).
        seed: seeds the split (the scenes have their own seed, `data.scenes.seed`).

    Returns:
        The dataset, read from the cached folder as a segmentation folder is.
    """
    from tasklab.data.segmentation import load_segmentation_folder

    spec = scene_spec(config.scenes)
    cache = Path(config.scenes.cache_dir or DEFAULT_CACHE)
    if not (cache.expanduser() / spec.cache_key() / "scenes.json").is_file():
        logger.info("Drawing %d textured-shape scenes into %s (once)", spec.scenes, cache)
    folder, _ = cached_scenes(spec, cache)
    return load_segmentation_folder(uri, str(folder), config, seed, SEGMENTATION)
