"""Reading image files into model pixels, in numpy and Pillow only (no TensorFlow).

The edge runner reads image files with these functions; the training pipeline
(`data/images.py`) does the same steps with TensorFlow ops, and tests
check that both give the model the same pixels for the same file. Neither side
leaves a conversion to its decoder, because the decoders' own conversions differ
(Pillow's `convert("L")` clips 16-bit gray at 255 and rounds its luma to integers;
TensorFlow's `channels=3` drops alpha). The steps:

1. Decode the file to its native channels as float32 samples in 0..255: gray (1),
   gray + alpha (2), RGB (3) or RGBA (4). 8-bit samples are kept; 16-bit ones are
   divided by 257 (= 65535 / 255, so 8-bit values stored in 16 bits stay exact);
   both decoders scale 1-, 2- and 4-bit PNG samples to 8 bits (`v * 255 / (2**bits - 1)`).
2. Expand to RGBA: gray is repeated into R, G and B; a missing alpha is 255.
3. Alpha `composite`: `rgb * a + background * (1 - a)` with `a = alpha / 255`, so an
   opaque pixel keeps its exact value and a transparent one becomes the background.
   Alpha `channel`: RGB is kept and alpha becomes the last channel. Alpha `drop`
   (bundles written before alpha was handled): RGB is kept.
4. To one color channel: an image that is still gray (decoded gray, and not
   composited with alpha over a colored background) keeps its gray value; any other
   takes luma `0.299 R + 0.587 G + 0.114 B` (ITU-R BT.601, the weights of Pillow's
   `convert("L")` and `tf.image.rgb_to_grayscale`), unrounded. To three, step 2's RGB.

What the decoders do differently (TensorFlow 2.21 and Pillow 13, every format and mode
decoded by both), and what both sides do about it:

- PNG, 16 bits: Pillow reads 16-bit RGB, RGBA and gray + alpha as 8 bits (their high
  bytes; gray + alpha even becomes RGBA), and 16-bit gray as `I;16`, which
  `convert("L")` clips (every value from 256 up becomes white). `_png_16_bit` reads
  all 16 bits; TensorFlow's `decode_png(dtype=uint16)` gives them, and gives 8-bit
  PNGs multiplied by 257, which the division by 257 undoes exactly.
- PNG, tRNS chunk: a palette image's tRNS becomes alpha in both. A gray or RGB
  image's tRNS color key is ignored by TensorFlow (no alpha channel), so here too.
- JPEG: TensorFlow's default IDCT (`INTEGER_FAST`) is up to 4 levels off Pillow's;
  the pipeline decodes with `INTEGER_ACCURATE`, which equals Pillow's exactly. CMYK:
  TensorFlow returns `c * k // 255` of the stored (Adobe-inverted) values, Pillow's
  `convert("RGB")` rounds (1 level off): the runner uses TensorFlow's formula.
- GIF: TensorFlow returns the first frame as RGB with its transparent pixels black:
  GIF transparency is lost there (as in Keras' `image_dataset_from_directory`), so
  the runner paints them black too. Icons with transparency belong in PNG files.
- BMP: TensorFlow ignores an 8-bit BMP's palette (it returns the indices as gray
  levels), the compression (RLE data is read as pixels) and 32-bit channel masks
  (it reads B, G, R, A bytes), and cannot read 1-, 4- or 16-bit BMPs. Both sides
  read uncompressed 8-, 24- and 32-bit BMPs (BITFIELDS only in that byte order),
  apply an 8-bit BMP's palette (gray if every entry is gray), and ignore the 4th
  byte of a 32-bit one: it is "reserved" in the common format and often 0, which
  TensorFlow would read as fully transparent. Other BMPs are refused by both.
- Neither applies EXIF orientation or PNG gamma.

Both refuse an image whose header declares more than `max_pixels` pixels before
decoding anything (`check_image_size`): a 20000 x 20000 PNG of one color is a few
hundred kilobytes on disk and gigabytes decoded.
"""

from __future__ import annotations

import dataclasses
import io
import re
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif")
ALPHA_MODES = ("composite", "channel", "drop")
LUMA_WEIGHTS = (0.299, 0.587, 0.114)
SIXTEEN_BIT_DIVISOR = 257.0
WHITE = (255.0, 255.0, 255.0)
# Native channels -> where R, G, B and A come from in `[native channels..., 255]`.
RGBA_SOURCES = ((0, 0, 0, 1), (0, 0, 0, 1), (0, 1, 2, 3), (0, 1, 2, 3))
# The BITFIELDS masks of the B, G, R byte order TensorFlow's BMP decoder assumes.
BMP_RGB_MASKS = (0xFF0000, 0xFF00, 0xFF)
# Each format by its first bytes, as TensorFlow's `decode_image` tells them apart.
MAGIC_BYTES = {"png": b"\x89PNG\r\n\x1a\n", "jpeg": b"\xff\xd8\xff", "gif": b"GIF8", "bmp": b"BM"}
_FORMATS = "a PNG, JPEG, GIF or BMP file"
# 40 megapixels: an 8K frame (33 MP) or a 24 MP photo fits; decoded as float RGBA it is 640 MB.
MAX_PIXELS = 40_000_000
# The most bytes a file of `max_pixels` pixels needs: 16-bit RGBA uncompressed, plus headers.
_BYTES_PER_PIXEL, _HEADER_BYTES = 8, 1 << 20


class ImageTooLargeError(ValueError):
    """An image declares more pixels than the limit; refused before decoding."""


class ImageError(ValueError):
    """An image file cannot be read; the message names the file, the problem and the fix."""


@dataclasses.dataclass(frozen=True)
class ImageSchema:
    """How an image file's samples become the model's pixels (part of an image bundle's input).

    Attributes:
        alpha: `composite` (over `background`), `channel` (kept as the last
            channel) or `drop` (discarded, as by bundles that predate this).
        background: the `(r, g, b)` transparent pixels are composited over.
        luma_weights: the R, G, B weights of gray computed from color.
        sixteen_bit_divisor: 16-bit samples are divided by this (0..255 floats).
        max_pixels: images declaring more pixels (width x height) are refused
            before they are decoded.
    """

    alpha: str = "composite"
    background: tuple[float, float, float] = WHITE
    luma_weights: tuple[float, float, float] = LUMA_WEIGHTS
    sixteen_bit_divisor: float = SIXTEEN_BIT_DIVISOR
    max_pixels: int = MAX_PIXELS

    def __post_init__(self):
        if self.alpha not in ALPHA_MODES:
            raise ImageError(f"alpha must be one of {list(ALPHA_MODES)}. Received: {self.alpha!r}.")

    @property
    def gray_background(self) -> bool:
        """Whether the background is a gray (compositing keeps gray images gray)."""
        return len(set(self.background)) == 1

    def stays_gray(self, native_channels: int, opaque: bool) -> bool:
        """Whether an image decoded with `native_channels` is still gray after step 3.

        Args:
            native_channels: 1 to 4 (gray, gray + alpha, RGB, RGBA).
            opaque: whether its alpha is 255 everywhere.
        """
        if native_channels == 1:
            return True
        composited = self.alpha == "composite" and not opaque and not self.gray_background
        return native_channels == 2 and not composited

    def keeps_alpha(self, channels: int) -> bool:
        """Whether a model input of `channels` channels ends with alpha."""
        return self.alpha == "channel" and channels in (2, 4)

    def to_json(self) -> dict[str, Any]:
        """JSON data for the edge bundle's `input` section."""
        return {
            "alpha": self.alpha,
            "background": list(self.background),
            "luma_weights": list(self.luma_weights),
            "sixteen_bit_divisor": self.sixteen_bit_divisor,
            "max_pixels": self.max_pixels,
        }

    @classmethod
    def from_json(cls, image: Mapping[str, Any]) -> ImageSchema:
        """Reads an image bundle's `input` section.

        A bundle written before these keys existed was trained on images whose
        alpha was dropped, so its alpha is dropped here too.
        """
        return cls(
            alpha=image.get("alpha", "drop"),
            background=tuple(image.get("background", WHITE)),
            luma_weights=tuple(image.get("luma_weights", LUMA_WEIGHTS)),
            sixteen_bit_divisor=float(image.get("sixteen_bit_divisor", SIXTEEN_BIT_DIVISOR)),
            max_pixels=int(image.get("max_pixels", MAX_PIXELS)),
        )


def image_format(data: bytes) -> str | None:
    """The format by the file's first bytes (as TensorFlow's decoders tell them), or None."""
    return next((name for name, magic in MAGIC_BYTES.items() if data.startswith(magic)), None)


def check_image_size(path: Path, max_pixels: int) -> None:
    """Refuses an image whose header declares more than `max_pixels` pixels, undecoded.

    Pillow's `Image.open` reads the header only. A file that is not an image
    passes: the decoder names it.

    Raises:
        ImageTooLargeError: naming the file, its size and the limit's setting.
    """
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    size = path.stat().st_size
    if size > max_pixels * _BYTES_PER_PIXEL + _HEADER_BYTES:
        raise ImageTooLargeError(
            f"'{path}' is {size:,} bytes, more than any image of {max_pixels:,} pixels needs "
            "(data.max_pixels). Downscale it, or raise data.max_pixels if it is a real image."
        )
    try:
        with warnings.catch_warnings():
            # Pillow's own warning past 89 MP; this function is the check, with its own limit.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as opened:
                width, height = opened.size
    except Image.DecompressionBombError as error:
        # Past twice its own limit Pillow refuses to open the file at all; its message has
        # the pixel count ("Image size (400000000 pixels) exceeds ...").
        found = re.search(r"\((\d+) pixels\)", str(error))
        declared = f"{int(found.group(1)):,} pixels" if found else "too many pixels"
        raise ImageTooLargeError(
            f"'{path}' declares {declared}, more than the limit of {max_pixels:,} "
            "(data.max_pixels) and more than Pillow opens. Downscale it."
        ) from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        return
    if width * height > max_pixels:
        raise ImageTooLargeError(
            f"'{path}' is {width} x {height} = {width * height:,} pixels, more than the limit "
            f"of {max_pixels:,} (data.max_pixels): decoded, it would take "
            f"{width * height * 16 / 1e9:.1f} GB. Downscale it, or raise data.max_pixels if "
            "the machine has the memory."
        )


def read_native(path: Path, schema: ImageSchema) -> np.ndarray:
    """Decodes an image file to its native channels (step 1).

    Args:
        path: a PNG, JPEG, GIF (first frame) or BMP file.
        schema: gives the 16-bit divisor.

    Returns:
        `(height, width, channels)` float32 samples in 0..255, channels 1 to 4.

    Raises:
        ImageError: for a file of another format, a broken one or an unsupported BMP.
    """
    from PIL import Image, UnidentifiedImageError  # Only image bundles need Pillow.

    try:
        check_image_size(path, schema.max_pixels)
    except ImageTooLargeError as error:
        raise ImageError(str(error)) from None
    data = Path(path).read_bytes()
    kind = image_format(data)
    if kind is None:
        raise ImageError(f"'{path}' is not a readable image (not {_FORMATS}).")
    try:
        if kind == "bmp":
            return _bmp(data, path)
        with Image.open(io.BytesIO(data)) as opened:
            if kind == "png":
                return _png(opened, data, schema.sixteen_bit_divisor)
            if kind == "jpeg":
                return _jpeg(opened)
            return _gif(opened)
    except ImageError:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        raise ImageError(f"'{path}' is not a readable image ({error}).") from None


def convert_pixels(native: np.ndarray, channels: int, schema: ImageSchema) -> np.ndarray:
    """Native samples -> the model's channels (steps 2 to 4).

    Args:
        native: `(height, width, 1..4)` float32 samples from `read_native`.
        channels: the model's input channels (1 gray, 2 gray + alpha, 3 RGB, 4 RGBA).
        schema: the alpha handling, background and luma weights.

    Returns:
        `(height, width, channels)` float32 pixels in 0..255.
    """
    rgba = to_rgba(native)
    color, alpha = rgba[..., :3], rgba[..., 3:]
    if schema.alpha == "composite":
        opacity = alpha / np.float32(255)
        background = np.asarray(schema.background, dtype=np.float32)
        color = color * opacity + background * (np.float32(1) - opacity)
    keeps_alpha = schema.keeps_alpha(channels)
    if channels - keeps_alpha == 1:
        opaque = bool(np.all(alpha == 255))
        if schema.stays_gray(native.shape[-1], opaque):
            color = color[..., :1]
        else:
            color = luma(color, schema.luma_weights)[..., None]
    return np.concatenate([color, alpha], axis=-1) if keeps_alpha else color


def to_rgba(native: np.ndarray) -> np.ndarray:
    """Step 2: `(height, width, 1..4)` samples as `(height, width, 4)` RGBA."""
    opaque = np.full((*native.shape[:2], 1), 255, dtype=np.float32)
    extended = np.concatenate([native.astype(np.float32), opaque], axis=-1)
    return np.take(extended, RGBA_SOURCES[native.shape[-1] - 1], axis=-1)


def luma(rgb: np.ndarray, weights: tuple[float, float, float]) -> np.ndarray:
    """Gray from RGB, summed in a fixed order in float32 (as the pipeline's ops sum it)."""
    red, green, blue = (np.float32(w) for w in weights)
    return rgb[..., 0] * red + rgb[..., 1] * green + rgb[..., 2] * blue


def _png(opened, data: bytes, divisor: float) -> np.ndarray:
    bits, color_type = data[24], data[25]  # From the IHDR chunk, which always comes first.
    if bits == 16 and color_type in (2, 4, 6):
        return _png_16_bit(data, color_type) / np.float32(divisor)
    if opened.mode == "I" or opened.mode.startswith("I;16"):  # 16-bit gray (older Pillow: "I").
        return np.asarray(opened).astype(np.float32)[..., None] / np.float32(divisor)
    if opened.mode == "1":
        opened = opened.convert("L")  # 0 and 255, as libpng expands 1-bit gray.
    elif opened.mode == "P":
        # Palette lookups are exact; a tRNS chunk gives alpha, as in TensorFlow.
        opened = opened.convert("RGBA" if "transparency" in opened.info else "RGB")
    pixels = np.asarray(opened).astype(np.float32)
    return pixels[..., None] if pixels.ndim == 2 else pixels


def _png_16_bit(data: bytes, color_type: int) -> np.ndarray:
    """All 16 bits of a 16-bit RGB, RGBA or gray + alpha PNG (Pillow keeps only the high byte).

    Pillow's PNG decoder undoes the row filters, then unpacks samples by a
    "raw mode". Decoding again with another raw mode of the same bits per pixel
    (so the filters are undone alike) gives the bytes Pillow drops: `RGB;16L`
    reads the second (low) byte of each big-endian sample where `RGB;16B` reads
    the first; gray + alpha's 4 bytes per pixel come whole as 8-bit `RGBA`.
    """
    if color_type == 4:
        raw = _png_with_rawmode(data, "RGBA").astype(np.uint16)
        return np.stack([raw[..., 0] * 256 + raw[..., 1], raw[..., 2] * 256 + raw[..., 3]], -1)
    mode = "RGB" if color_type == 2 else "RGBA"
    high = _png_with_rawmode(data, f"{mode};16B").astype(np.uint16)
    low = _png_with_rawmode(data, f"{mode};16L").astype(np.uint16)
    return (high * 256 + low).astype(np.float32)


def _png_with_rawmode(data: bytes, rawmode: str) -> np.ndarray:
    from PIL import Image

    with Image.open(io.BytesIO(data)) as opened:
        # Tiles are named tuples from Pillow 11 on, plain tuples before.
        opened.tile = [(*tile[:3], rawmode) for tile in opened.tile]
        opened.load()
        return np.asarray(opened)


def _jpeg(opened) -> np.ndarray:
    pixels = np.asarray(opened)
    if opened.mode == "CMYK":
        # libjpeg returns Adobe CMYK inverted; Pillow undoes that, TensorFlow does not.
        stored = pixels.astype(np.int32)
        stored = 255 - stored if "adobe" in opened.info else stored
        return ((stored[..., :3] * stored[..., 3:]) // 255).astype(np.float32)
    if opened.mode not in ("L", "RGB"):
        pixels = np.asarray(opened.convert("RGB"))
    pixels = pixels.astype(np.float32)
    return pixels[..., None] if pixels.ndim == 2 else pixels


def _gif(opened) -> np.ndarray:
    rgba = np.asarray(opened.convert("RGBA")).astype(np.float32)
    rgb = rgba[..., :3].copy()
    rgb[rgba[..., 3] == 0] = 0.0  # TensorFlow paints transparent pixels black.
    return rgb


def _bmp(data: bytes, path: Path) -> np.ndarray:
    """An uncompressed 8-, 24- or 32-bit BMP, read as the pipeline reads it (module docstring)."""
    header = bmp_header(data)
    if not header["supported"]:
        raise ImageError(
            f"'{path}' is a {header['bits']}-bit BMP with compression {header['compression']}, "
            "which the training pipeline does not read (TensorFlow reads uncompressed 8-, 24- "
            "and 32-bit BMPs only). Convert it to PNG."
        )
    width, height, bits = header["width"], header["height"], header["bits"]
    stride = (width * bits + 31) // 32 * 4  # Rows are padded to 4 bytes.
    rows = np.frombuffer(data, np.uint8, count=stride * abs(height), offset=header["offset"])
    rows = rows.reshape(abs(height), stride)[:, : width * bits // 8]
    if height > 0:
        rows = rows[::-1]  # A positive height stores the bottom row first.
    if bits != 8:
        return rows.reshape(abs(height), width, bits // 8)[..., 2::-1].astype(np.float32)
    palette, gray = bmp_palette(data, header)
    pixels = palette[rows].astype(np.float32)
    return pixels[..., :1] if gray else pixels


def bmp_header(data: bytes) -> dict[str, int | bool]:
    """The BMP header fields the decoders read, and whether both decoders read the file alike."""

    def field(offset: int, size: int, signed: bool = False) -> int:
        return int.from_bytes(data[offset : offset + size], "little", signed=signed)

    header = {
        "header_size": field(14, 4),
        "width": field(18, 4),
        "height": field(22, 4, signed=True),
        "bits": field(28, 2),
        "compression": field(30, 4),
        "colors": min(field(46, 4) or 256, 256),
        "offset": field(10, 4),
    }
    masks = tuple(field(54 + 4 * i, 4) for i in range(3))
    header["supported"] = header["header_size"] >= 40 and (
        (header["bits"] in (8, 24, 32) and header["compression"] == 0)
        or (header["bits"] == 32 and header["compression"] == 3 and masks == BMP_RGB_MASKS)
    )
    return header


def bmp_palette(data: bytes, header: dict[str, int | bool]) -> tuple[np.ndarray, bool]:
    """An 8-bit BMP's palette as 256 RGB rows (indices past it read black), and if all gray."""
    colors = header["colors"]
    entries = np.frombuffer(data, np.uint8, count=4 * colors, offset=14 + header["header_size"])
    palette = np.zeros((256, 3), np.uint8)
    palette[:colors] = entries.reshape(colors, 4)[:, 2::-1]  # B, G, R, reserved -> R, G, B.
    return palette, bool(np.all(palette[:colors] == palette[:colors, :1]))
