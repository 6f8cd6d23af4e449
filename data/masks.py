"""Segmentation masks for `folder:PATH`: pairing, reading and checking them (Pillow and numpy).

The layout (Pascal VOC's, under plainer names)::

    PATH/images/NAME.jpg    an image of any suffix the image folder reads (PNG/JPEG/BMP/GIF)
    PATH/masks/NAME.png     its mask: the same stem, one class index per pixel
    PATH/classes.txt        optional: line i names class i

A mask is a PNG of class indices: grayscale (`L`; 1-, 2- and 4-bit samples are the
indices themselves, not scaled to 0..255 as image samples are), a 16-bit grayscale
whose values fit in 0..255, or a palette PNG whose palette *indices* are the classes,
as VOC's `SegmentationClass` ships (the palette's colours are only for viewing).
`IGNORE` (255) marks pixels no loss or metric counts (VOC's object borders), so a
dataset has at most 255 classes, 0..254. A colour (RGB) mask is refused: its pixels
are colours, not indices. A mask must have its image's size; `resize_mask` resizes one
with nearest neighbour, which never invents an index.

Every file is untrusted: a mask whose header declares more than `max_pixels` pixels
is refused before anything is decoded (`check_image_size`, as for images), its size is
compared with its image's from both headers before decoding, and a corrupt or
truncated PNG is an error naming it.

`data.skip_corrupt` skips what is wrong with one pair and names it in a note: an image
without a mask, an image or mask that cannot be read (corrupt, truncated, not a PNG,
too large) and a mask that does not fit its pair (a colour mask, another size than its
image, an index outside the classes). What is wrong with the dataset as a whole is
always an error: a missing `images/` or `masks/` folder, two files with one stem, a bad
`classes.txt`, no pair left.

The code here uses numpy and Pillow only, no TensorFlow. Importing it still loads
TensorFlow, through the `tasklab.data` package and the modules `DataError` (data/base.py)
and the note helpers (data/folder.py) come from; a copy for the edge runner, which
imports nothing of tasklab's, would need its own error class.
"""

from __future__ import annotations

import logging
import warnings
import zlib
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np
from PIL import Image, UnidentifiedImageError

from tasklab.core.errors import name_some
from tasklab.core.segmentation_metrics import IGNORE
from tasklab.data.base import DataError
from tasklab.data.folder import ignored_note, name_files, skip_unreadable
from tasklab.edge.edge_inputs import EdgeInputError, decode_text_file
from tasklab.edge.image_io import (
    IMAGE_SUFFIXES,
    MAGIC_BYTES,
    MAX_PIXELS,
    ImageTooLargeError,
    check_image_size,
    image_format,
)

MASK_SUFFIX = ".png"
CLASSES_FILE = "classes.txt"
LAYOUT = "images/NAME.jpg + masks/NAME.png"
MAX_CLASSES = IGNORE  # Classes 0..254; 255 marks ignored pixels.
_MAX_REASONS = 5
# Pillow's errors for a file it cannot decode (zlib's for a broken compressed stream).
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, zlib.error)

logger = logging.getLogger(__name__)


class MaskPair(NamedTuple):
    """One image and its mask, matched by stem."""

    stem: str
    image: Path
    mask: Path


class MaskScan(NamedTuple):
    """What `scan_masks` found.

    Attributes:
        pairs: the usable pairs, in stem order.
        class_names: one name per class, in index order.
        masks: each usable pair's mask, `(height, width)` uint8 at its image's size.
        present: `(pairs, classes)` bool: which classes each pair's mask holds.
        notes: what was skipped, for the data notes.
    """

    pairs: list[MaskPair]
    class_names: tuple[str, ...]
    masks: list[np.ndarray]
    present: np.ndarray
    notes: list[str]


def pair_images_and_masks(root: Path, skip_corrupt: bool) -> tuple[list[MaskPair], list[str]]:
    """Matches `root/images/NAME.*` with `root/masks/NAME.png`, in stem order.

    Only files directly in the two folders count; hidden files are passed over, and
    other files (and sub-folders) are noted as ignored.

    Args:
        root: the dataset folder.
        skip_corrupt: skip images without a mask (noted) instead of failing.

    Returns:
        The pairs, sorted by stem, and the data notes: images skipped for lack of a
        mask, masks without an image, files ignored.

    Raises:
        DataError: for a missing folder, two files with one stem, an image without
            a mask (unless `skip_corrupt`), or no pair at all.
    """
    root = Path(root).expanduser()
    _check_layout(root)
    images, ignored_images = _files_by_stem(root, "images", IMAGE_SUFFIXES)
    masks, ignored_masks = _files_by_stem(root, "masks", (MASK_SUFFIX,))
    if not images:
        raise DataError(
            f"'{root / 'images'}' holds no PNG/JPEG/BMP/GIF images. Put the images there and "
            f"their masks in '{root / 'masks'}', with the same names ({LAYOUT})."
        )
    unmatched = [stem for stem in images if stem not in masks]
    notes = []
    if unmatched:
        notes += _without_masks(unmatched, images, ignored_masks, root, skip_corrupt)
    orphans = [masks[stem] for stem in masks if stem not in images]
    if orphans:
        notes.append(
            f"Ignored {len(orphans)} mask(s) without an image: {name_files(orphans, root)}."
        )
    notes += ignored_note(ignored_images, root, "PNG/JPEG/BMP/GIF images")
    notes += ignored_note(ignored_masks, root, "PNG masks")
    pairs = [MaskPair(stem, images[stem], masks[stem]) for stem in images if stem in masks]
    if not pairs:
        raise DataError(
            f"No image in '{root / 'images'}' has a mask in '{root / 'masks'}'. A mask is "
            f"matched to its image by name ({LAYOUT}): check that the names agree."
        )
    return pairs, notes


def _check_layout(root: Path) -> None:
    """Refuses a dataset folder without `images/` and `masks/`, saying the layout."""
    layout = (
        f"a segmentation dataset folder holds images/ and masks/ ({LAYOUT}: the same name, "
        "the mask a PNG of class indices) and, optionally, classes.txt (line i names class i)"
    )
    if not root.exists():
        raise DataError(
            f"The dataset folder '{root}' does not exist. Check data.uri "
            "(relative paths are resolved against the current directory)."
        )
    if not root.is_dir():
        raise DataError(f"'{root}' is a file; {layout}.")
    missing = [name for name in ("images", "masks") if not (root / name).is_dir()]
    if missing:
        found = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
        holds = f"it holds the folders {name_some(found)}" if found else "it holds no folders"
        raise DataError(
            f"'{root}' has no {' or '.join(f'{name}/' for name in missing)} folder ({holds}); "
            f"{layout}. For Pascal VOC, link JPEGImages as images and SegmentationClass as masks."
        )


def _files_by_stem(
    root: Path, folder: str, suffixes: tuple[str, ...]
) -> tuple[dict[str, Path], list[Path]]:
    """The files of `root/folder` with one of `suffixes`, by stem (sorted), and the others.

    Raises:
        DataError: naming the files when two share a stem (which would be ambiguous).
    """
    by_stem: dict[str, list[Path]] = {}
    ignored = []
    for path in sorted((root / folder).iterdir()):
        if path.name.startswith("."):
            continue
        if path.is_file() and path.suffix.lower() in suffixes:
            by_stem.setdefault(path.stem, []).append(path)
        else:
            ignored.append(path)
    shared = {stem: paths for stem, paths in by_stem.items() if len(paths) > 1}
    if shared:
        named = "; ".join(
            f"'{stem}': {', '.join(str(p.relative_to(root)) for p in paths)}"
            for stem, paths in list(shared.items())[:_MAX_REASONS]
        )
        more = len(shared) - _MAX_REASONS
        raise DataError(
            f"{len(shared)} name(s) in '{root / folder}' belong to several files ({named}"
            f"{f', and {more:,} more' if more > 0 else ''}). Images and masks are matched by "
            "name without the suffix, so each name must be one file: rename or remove the others."
        )
    return {stem: by_stem[stem][0] for stem in sorted(by_stem)}, ignored


def _without_masks(
    stems: list[str],
    images: dict[str, Path],
    ignored_masks: list[Path],
    root: Path,
    skip: bool,
) -> list[str]:
    """Refuses images without a mask, naming each and its expected mask, or notes them."""
    files = [images[stem] for stem in stems]
    if skip:
        names = name_files(files, root)
        logger.warning("Skipping %d image(s) without a mask: %s", len(files), names)
        return [f"Skipped {len(files)} image(s) without a mask: {names}."]
    not_png = {path.stem: path for path in ignored_masks if path.is_file()}
    reasons = []
    for stem in stems[:_MAX_REASONS]:
        reason = f"'{images[stem]}' (expected '{root / 'masks' / (stem + MASK_SUFFIX)}'"
        if stem in not_png:
            reason += (
                f"; '{not_png[stem].relative_to(root)}' is there, but a mask must be a PNG: "
                "lossy formats change class indices"
            )
        reasons.append(reason + ")")
    more = len(stems) - _MAX_REASONS
    raise DataError(
        f"{len(stems)} image(s) in '{root / 'images'}' have no mask: {', '.join(reasons)}"
        f"{f' and {more:,} more' if more > 0 else ''}. Each image needs a mask of the same name "
        f"({LAYOUT}): add the masks, remove those images, or set data.skip_corrupt: true to "
        "skip them."
    )


def read_mask(
    path: Path,
    expected_size: tuple[int, int] | None,
    classes: int | None,
    max_pixels: int = MAX_PIXELS,
    image: Path | None = None,
) -> np.ndarray:
    """Reads a mask PNG as class indices, refusing what is not one.

    The header is checked (pixel count, mode, size) before anything is decoded.

    Args:
        path: the mask file.
        expected_size: its image's `(width, height)`; None to accept any size.
        classes: the number of classes (indices 0..classes-1, and 255); None to accept
            any index.
        max_pixels: masks whose header declares more pixels are refused undecoded.
        image: the mask's image, to name in a size mismatch.

    Returns:
        `(height, width)` uint8 class indices, `IGNORE` (255) where unlabelled.

    Raises:
        DataError: naming the file, the problem and the fix: too large, not a PNG,
            corrupt or truncated, a colour or alpha mask, 16-bit values past 255,
            another size than its image, or an index outside the classes.
    """
    if classes is not None and not 1 <= classes <= MAX_CLASSES:
        raise ValueError(f"classes must be in 1..{MAX_CLASSES}. Received: {classes}.")
    path = Path(path)
    try:
        check_image_size(path, max_pixels)
        with path.open("rb") as handle:
            head = handle.read(26)
    except ImageTooLargeError as error:
        raise DataError(str(error)) from None
    except OSError as error:
        raise DataError(f"The mask '{path}' cannot be read ({error.strerror or error}).") from None
    if not head.startswith(MAGIC_BYTES["png"]) or len(head) < 26:
        kind = image_format(head)
        what = f"a {kind.upper()} file" if kind else "not an image"
        raise DataError(
            f"The mask '{path}' is not a PNG ({what}): a mask must be a PNG of class indices "
            "(lossless; JPEG compression changes indices). Save it as a grayscale or palette PNG."
        )
    bit_depth, color_type = head[24], head[25]  # From the IHDR chunk, which comes first.
    try:
        with warnings.catch_warnings():
            # check_image_size applied the limit; Pillow's own warning (89 MP) is moot.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as opened:
                _check_mode(opened.mode, path)
                _check_size(opened.size, expected_size, path, image)
                opened.load()
                pixels = np.asarray(opened)
    except DataError:
        raise
    except Image.DecompressionBombError as error:
        raise DataError(f"The mask '{path}' is too large to decode ({error}).") from None
    except _DECODE_ERRORS as error:
        raise DataError(
            f"The mask '{path}' is not a readable PNG ({error}): it is corrupt or truncated. "
            "Export it again."
        ) from None
    mask = _indices(pixels, bit_depth, color_type, path)
    if classes is not None:
        _check_indices(mask, classes, path)
    return mask


def _check_mode(mode: str, path: Path) -> None:
    """Refuses a PNG whose pixels are not class indices (colour, or with alpha)."""
    if mode in ("1", "L", "P", "I") or mode.startswith("I;16"):
        return
    if mode in ("RGB", "RGBA"):
        raise DataError(
            f"The mask '{path}' is a colour ({mode}) PNG, but a mask must hold class indices "
            "(a grayscale or palette PNG), not colours. Map each colour to its class index and "
            "save the mask as an 8-bit grayscale (mode L) or palette (mode P) PNG; Pascal VOC's "
            "SegmentationClass PNGs are palette PNGs already (a copy converted to RGB has lost "
            "its indices)."
        )
    raise DataError(
        f"The mask '{path}' is a PNG of mode {mode}, but a mask must be a grayscale or palette "
        "PNG without alpha, one class index per pixel (255 where unlabelled). Save it as an "
        "8-bit grayscale (mode L) or palette (mode P) PNG."
    )


def _check_size(
    size: tuple[int, int], expected: tuple[int, int] | None, path: Path, image: Path | None
) -> None:
    if expected is None or tuple(size) == tuple(expected):
        return
    (width, height), (image_width, image_height) = size, expected
    of = f"its image '{image}'" if image is not None else "its image"
    raise DataError(
        f"The mask '{path}' is {width} x {height} pixels but {of} is {image_width} x "
        f"{image_height} (width x height): a mask gives one class index per pixel of its "
        "image, so it must have the image's size. Export the mask at the image's size (a "
        "resized mask must use nearest neighbour, never interpolation), or check that the "
        "two files belong together."
    )


def _indices(pixels: np.ndarray, bit_depth: int, color_type: int, path: Path) -> np.ndarray:
    """The decoded samples as uint8 class indices."""
    if pixels.dtype == bool:  # Mode 1: a 1-bit grayscale PNG holds indices 0 and 1.
        return pixels.astype(np.uint8)
    if pixels.dtype != np.uint8:  # 16-bit grayscale.
        largest = int(pixels.max(initial=0))
        if largest > IGNORE:
            raise DataError(
                f"The mask '{path}' is a 16-bit PNG holding the value {largest:,}, more than a "
                f"mask's {IGNORE}: class indices run 0..{IGNORE - 1}, and {IGNORE} marks ignored "
                "pixels. Save it as an 8-bit grayscale or palette PNG of those indices."
            )
        return pixels.astype(np.uint8)
    if color_type == 0 and bit_depth < 8:
        # Pillow scales 2- and 4-bit gray samples to 0..255 (2 -> 170); the samples are indices.
        return pixels // np.uint8(255 // (2**bit_depth - 1))
    return np.array(pixels, dtype=np.uint8)


def _check_indices(mask: np.ndarray, classes: int, path: Path) -> None:
    counts = np.bincount(mask.ravel(), minlength=IGNORE + 1)
    outside = [str(classes + i) for i in np.flatnonzero(counts[classes:IGNORE])]
    if outside:
        raise DataError(
            f"The mask '{path}' holds the class index(es) {name_some(outside, 5)}, but there "
            f"are {classes} classes (indices 0..{classes - 1}; {IGNORE} marks ignored pixels). "
            f"Fix the mask, or name every class in {CLASSES_FILE} (line i names class i)."
        )


def resize_mask(mask: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resizes class indices with nearest neighbour: each pixel takes one source pixel's index.

    Interpolating would blend indices into others (between 1 and 3 lies 2, another
    class) and blur `IGNORE` borders into classes; nearest neighbour gives only
    values the mask holds.

    Args:
        mask: `(height, width)` uint8 class indices.
        size: the new `(width, height)`, in Pillow's order as the image sizes are.

    Returns:
        The `(height, width)` uint8 mask of the new size.
    """
    mask = np.asarray(mask)
    if mask.ndim != 2 or mask.dtype != np.uint8:
        raise ValueError(f"A mask is 2-D uint8. Received: {mask.dtype} of shape {mask.shape}.")
    resized = Image.fromarray(mask).resize(tuple(size), Image.Resampling.NEAREST)
    return np.array(resized, dtype=np.uint8)


def classes_present(masks: Iterable[np.ndarray], classes: int) -> np.ndarray:
    """Which classes each mask holds (`IGNORE` is no class).

    Args:
        masks: uint8 class-index arrays.
        classes: the number of classes.

    Returns:
        `(masks, classes)` bool.

    Raises:
        ValueError: for an index outside the classes (`read_mask` refuses those).
    """
    rows = []
    for mask in masks:
        counts = np.bincount(np.asarray(mask, dtype=np.uint8).ravel(), minlength=IGNORE + 1)
        if counts[classes:IGNORE].any():
            raise ValueError(f"A mask holds an index outside the {classes} classes.")
        rows.append(counts[:classes] > 0)
    return np.asarray(rows, dtype=bool).reshape(len(rows), classes)


def read_class_names(root: Path, masks: Iterable[np.ndarray] = ()) -> tuple[str, ...]:
    """The class names: `root/classes.txt` if there is one, else `class_0..class_{k-1}`.

    Without `classes.txt`, k is one more than the largest index any mask holds
    (`IGNORE` aside), so a class no mask holds past the largest is not known.

    Args:
        root: the dataset folder.
        masks: the masks (or any arrays of their values, such as each mask's
            `np.unique`); not read when `classes.txt` names the classes.

    Raises:
        DataError: for a bad `classes.txt` (`read_classes_file`), masks that hold no
            class index, or fewer than 2 classes.
    """
    names = read_classes_file(root)
    if names is not None:
        return names
    largest = -1
    for mask in masks:
        counts = np.bincount(np.asarray(mask, dtype=np.uint8).ravel(), minlength=IGNORE + 1)
        seen = np.flatnonzero(counts[:IGNORE])
        if seen.size:
            largest = max(largest, int(seen[-1]))
    if largest < 0:
        raise DataError(
            f"No mask in '{Path(root) / 'masks'}' holds a class index: every pixel is {IGNORE} "
            "(ignored). Label the pixels with class indices 0..254, or check that these are the "
            "masks."
        )
    if largest == 0:
        raise DataError(
            f"Every mask in '{Path(root) / 'masks'}' holds class 0 only: segmentation needs at "
            f"least 2 classes (e.g. 0 background, 1 object). Label the objects, or name the "
            f"classes in '{Path(root) / CLASSES_FILE}' (line i names class i)."
        )
    return tuple(f"class_{i}" for i in range(largest + 1))


def read_classes_file(root: Path) -> tuple[str, ...] | None:
    """The names in `root/classes.txt` (line i names class i), or None without one.

    Read as the text loaders read files (`decode_text_file`: size-capped, no NUL bytes),
    but strictly: a line that is not UTF-8, blank or repeated is refused, naming it.
    Trailing blank lines are allowed.

    Raises:
        DataError: naming the file, the line and the fix.
    """
    path = Path(root) / CLASSES_FILE
    if not path.exists():
        return None
    how = "List one class name per line, line 1 naming class 0, line 2 class 1, and so on."
    if not path.is_file():
        raise DataError(f"'{path}' is not a file. {how}")
    try:
        text, lossy = decode_text_file(path)
    except EdgeInputError as error:
        raise DataError(f"{error} {how}") from None
    except OSError as error:
        raise DataError(f"'{path}' cannot be read ({error.strerror or error}).") from None
    lines = text.splitlines()
    while lines and not lines[-1].strip():
        lines.pop()
    if lossy:
        line = next(i for i, name in enumerate(lines, 1) if "\ufffd" in name)
        raise DataError(f"'{path}' line {line} is not valid UTF-8. Save the file as UTF-8.")
    if len(lines) < 2:
        raise DataError(
            f"'{path}' names {len(lines)} class(es); segmentation needs at least 2 (e.g. "
            f"background and object). {how}"
        )
    if len(lines) > MAX_CLASSES:
        raise DataError(
            f"'{path}' names {len(lines):,} classes, more than {MAX_CLASSES}: mask indices are "
            f"8-bit and {IGNORE} marks ignored pixels, so classes run 0..{MAX_CLASSES - 1}. "
            "Merge classes to fit."
        )
    first: dict[str, int] = {}
    for number, line in enumerate(lines, 1):
        name = line.strip()
        if not name:
            raise DataError(
                f"'{path}' line {number} is blank, which would leave class {number - 1} "
                f"without a name. Name it (e.g. unused_{number - 1}), or remove the line if the "
                "masks number the classes after it one lower."
            )
        if name in first:
            raise DataError(
                f"'{path}' lines {first[name]} and {number} both name the class '{name}'; "
                "each class needs its own name. Rename one of them."
            )
        first[name] = number
    return tuple(first)


def scan_masks(
    root: Path,
    pairs: Sequence[MaskPair],
    skip_corrupt: bool,
    max_pixels: int = MAX_PIXELS,
) -> MaskScan:
    """Reads every mask once, checking it against its image's header and the classes.

    Only each image's header is read (its size); every mask is decoded once and
    kept, so a loader need not read it again.

    Args:
        root: the dataset folder.
        pairs: from `pair_images_and_masks`.
        skip_corrupt: skip the pairs whose image or mask cannot be used (noted),
            instead of failing.
        max_pixels: images and masks whose header declares more pixels are refused.

    Returns:
        The usable pairs, the class names, their masks, the classes each mask
        holds, and notes.

    Raises:
        DataError: for unusable pairs (unless `skip_corrupt`), a bad `classes.txt`,
            or no pair left.
    """
    root = Path(root).expanduser()
    names = read_classes_file(root)
    classes = len(names) if names is not None else None
    kept, masks, seen, image_reasons, mask_reasons = [], [], [], [], []
    for pair in pairs:
        try:
            size = _image_size(pair.image, max_pixels)
        except DataError as error:
            image_reasons.append(str(error))
            continue
        try:
            mask = read_mask(pair.mask, size, classes, max_pixels, image=pair.image)
        except DataError as error:
            mask_reasons.append(str(error))
            continue
        kept.append(pair)
        masks.append(mask)
        seen.append(np.bincount(mask.ravel(), minlength=IGNORE + 1) > 0)
    notes = skip_unreadable(image_reasons, root, "image", "could not be read", skip_corrupt)
    notes += skip_unreadable(mask_reasons, root, "mask", "cannot be used as masks", skip_corrupt)
    if not kept:
        first = (image_reasons + mask_reasons or ["There are no pairs."])[0]
        raise DataError(
            f"No pair of image and mask in '{root}' is usable: data.skip_corrupt skipped all "
            f"{len(pairs)}. The first: {first}"
        )
    values = np.stack(seen)
    if names is None:
        names = read_class_names(root, [np.flatnonzero(row).astype(np.uint8) for row in values])
    return MaskScan(kept, names, masks, values[:, : len(names)], notes)


def _image_size(path: Path, max_pixels: int) -> tuple[int, int]:
    """An image's `(width, height)` from its header (nothing decoded).

    Raises:
        DataError: for an image too large or that is not a readable image.
    """
    try:
        check_image_size(path, max_pixels)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as opened:
                return opened.size
    except ImageTooLargeError as error:
        raise DataError(str(error)) from None
    except (UnidentifiedImageError, *_DECODE_ERRORS) as error:
        raise DataError(f"The image '{path}' is not a readable image ({error}).") from None
