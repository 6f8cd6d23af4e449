"""The files a segmentation bundle's runner writes per image: its mask and a coloured overlay.

    NAME.mask.png     a palette PNG of class indices (as Pascal VOC ships masks): each
                      pixel's value is its class, and viewers show the class colours
    NAME.overlay.png  the image with each non-background class painted over it, half opaque

Both are at the input image's own size: the mask the model predicts at its
input size is resized back with nearest neighbour, so no class is blended.
Imports only numpy, Pillow and the standard library.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np

from .outputs import class_palette

OVERLAY_OPACITY = 0.5


def image_size(path: Path) -> tuple[int, int]:
    """The `(width, height)` an image file's header declares (the file was read before)."""
    from PIL import Image

    with Image.open(path) as image:
        return image.size


def mask_image(mask: np.ndarray, classes: int, size: tuple[int, int]):
    """The mask as a palette PIL image of `size` (width, height), nearest-neighbour resized."""
    from PIL import Image

    picture = Image.fromarray(np.asarray(mask, dtype=np.uint8), mode="P")
    picture.putpalette(class_palette(max(classes, 1)).reshape(-1).tolist())
    if picture.size != tuple(size):
        picture = picture.resize(size, Image.Resampling.NEAREST)
    return picture


def overlay_image(source: Path, mask, classes: int):
    """The source image with each class but class 0 painted over it, half opaque (RGB)."""
    from PIL import Image

    with Image.open(source) as opened:
        image = np.asarray(opened.convert("RGB"), dtype=np.float32)
    indices = np.asarray(mask)
    colours = class_palette(max(classes, 1))[indices].astype(np.float32)
    painted = (indices != 0)[..., None]
    blended = np.where(painted, (1 - OVERLAY_OPACITY) * image + OVERLAY_OPACITY * colours, image)
    return Image.fromarray(np.clip(np.rint(blended), 0, 255).astype(np.uint8), mode="RGB")


def write_mask_files(
    source: Path, mask: np.ndarray, classes: int, folder: Path, stem: str
) -> tuple[Path, Path]:
    """Writes `stem.mask.png` and `stem.overlay.png` for one image into `folder`, atomically.

    Args:
        source: the input image file.
        mask: `(height, width)` class indices at the model's size.
        classes: how many classes (the palette's length).
        folder: where the files go (created if missing).
        stem: the files' name before the suffixes.

    Returns:
        The mask's and the overlay's paths.
    """
    folder.mkdir(parents=True, exist_ok=True)
    resized = mask_image(mask, classes, image_size(source))
    mask_path = _save(resized, folder / f"{stem}.mask.png")
    overlay_path = _save(overlay_image(source, resized, classes), folder / f"{stem}.overlay.png")
    return mask_path, overlay_path


def unique_stems(paths: list[Path]) -> list[str]:
    """A file-name stem per input: its own, with `-2`, `-3`... where two inputs share one."""
    seen: dict[str, int] = {}
    stems = []
    for path in paths:
        count = seen.get(path.stem, 0) + 1
        seen[path.stem] = count
        stems.append(path.stem if count == 1 else f"{path.stem}-{count}")
    return stems


def _save(picture, path: Path) -> Path:
    """Saves a PIL image as PNG through a temporary file renamed into place."""
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    os.close(descriptor)
    try:
        picture.save(temporary, format="PNG")
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path
