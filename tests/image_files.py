"""Writers of image files in every format and mode the decoders must agree on.

Pillow cannot write 16-bit color PNGs, 1/2/4-bit gray PNGs, tRNS color keys or
most BMP variants, so PNG and BMP files are written byte by byte here. PNG rows
cycle through all five row filters, so a decoder that undoes them with the
wrong bytes per pixel is caught.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

# PNG color types.
GRAY, RGB, PALETTE, GRAY_ALPHA, RGBA = 0, 2, 3, 4, 6


def write_png(
    path: Path,
    samples: np.ndarray,
    bit_depth: int,
    color_type: int,
    palette: np.ndarray | None = None,
    trns: bytes | None = None,
) -> Path:
    """Writes `(height, width[, channels])` integer samples as a PNG of any bit depth."""
    height, width = samples.shape[:2]
    flat = np.ascontiguousarray(samples).reshape(height, -1)
    if bit_depth == 16:
        raw = flat.astype(">u2").view(np.uint8).reshape(height, -1)
    elif bit_depth == 8:
        raw = flat.astype(np.uint8)
    else:  # 1, 2 or 4 bits: pack each sample's low bits, high bits first.
        bits = np.unpackbits(flat.astype(np.uint8)[..., None], axis=-1)[..., 8 - bit_depth :]
        raw = np.packbits(bits.reshape(height, -1), axis=1)
    pixel_bytes = max(1, raw.shape[1] // width) if bit_depth >= 8 else 1
    chunks = [("IHDR", struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, 0))]
    if palette is not None:
        chunks.append(("PLTE", np.asarray(palette, np.uint8).tobytes()))
    if trns is not None:
        chunks.append(("tRNS", trns))
    chunks += [("IDAT", zlib.compress(_filtered(raw.astype(np.int64), pixel_bytes))), ("IEND", b"")]
    data = b"\x89PNG\r\n\x1a\n"
    for kind, body in chunks:
        tagged = kind.encode() + body
        data += struct.pack(">I", len(body)) + tagged + struct.pack(">I", zlib.crc32(tagged))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def write_png_bomb(path: Path, side: int) -> Path:
    """A gray `side` x `side` PNG of zeros: a few hundred KB that decodes to `side**2` bytes
    (and four times that as float RGBA), a "decompression bomb"."""
    compressor = zlib.compressobj(9)
    row = bytes(side + 1)  # Filter byte 0, then the row's zeros.
    idat = b"".join(compressor.compress(row) for _ in range(side)) + compressor.flush()
    chunks = [("IHDR", struct.pack(">IIBBBBB", side, side, 8, GRAY, 0, 0, 0)), ("IDAT", idat)]
    data = b"\x89PNG\r\n\x1a\n"
    for kind, body in [*chunks, ("IEND", b"")]:
        tagged = kind.encode() + body
        data += struct.pack(">I", len(body)) + tagged + struct.pack(">I", zlib.crc32(tagged))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def _filtered(raw: np.ndarray, bpp: int) -> bytes:
    """PNG rows, row y filtered with filter type y % 5 (None, Sub, Up, Average, Paeth)."""
    rows, previous = [], np.zeros(raw.shape[1], np.int64)
    for y, row in enumerate(raw):
        left = np.concatenate([np.zeros(bpp, np.int64), row[:-bpp]])
        upper_left = np.concatenate([np.zeros(bpp, np.int64), previous[:-bpp]])
        estimate = left + previous - upper_left
        distances = [np.abs(estimate - v) for v in (left, previous, upper_left)]
        paeth = np.where(
            (distances[0] <= distances[1]) & (distances[0] <= distances[2]),
            left,
            np.where(distances[1] <= distances[2], previous, upper_left),
        )
        predictions = [0 * row, left, previous, (left + previous) // 2, paeth]
        kind = y % 5
        rows.append(bytes([kind]) + ((row - predictions[kind]) % 256).astype(np.uint8).tobytes())
        previous = row
    return b"".join(rows)


def write_bmp(
    path: Path,
    pixels: np.ndarray,
    bits: int,
    palette: np.ndarray | None = None,
    compression: int = 0,
    masks: tuple[int, ...] | None = None,
    top_down: bool = False,
) -> Path:
    """Writes a BMP of `(height, row bytes[, bytes per pixel])` pixels (indices or B, G, R[, X])."""
    height = pixels.shape[0]
    row_bytes = pixels.reshape(height, -1).astype(np.uint8)
    width = row_bytes.shape[1] * 8 // bits
    padding = (-row_bytes.shape[1]) % 4
    rows = row_bytes if top_down else row_bytes[::-1]
    body = b"".join(row.tobytes() + b"\0" * padding for row in rows)
    entries = b"" if palette is None else np.asarray(palette, np.uint8).tobytes()
    header_size = 124 if masks else 40
    info = struct.pack(
        "<IiiHHIIiiII",
        header_size,
        width,
        -height if top_down else height,
        1,
        bits,
        compression,
        len(body),
        2835,
        2835,
        len(entries) // 4,
        0,
    )
    if masks:
        info += struct.pack("<4I", *masks) + b"\0" * (header_size - 40 - 16)
    offset = 14 + len(info) + len(entries)
    head = b"BM" + struct.pack("<IHHI", offset + len(body), 0, 0, offset)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(head + info + entries + body)
    return path


def _pillow(path: Path, image: Image.Image, **options) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, **options)
    return path


def _gradient(rng: np.random.Generator, height: int, width: int, channels: int) -> np.ndarray:
    """Smooth content with noise, so JPEG's lossy paths (IDCT, upsampling) are exercised."""
    y, x = np.mgrid[0:height, 0:width]
    base = np.stack([(x * 7 + y * 3 + 40 * c) % 256 for c in range(channels)], axis=-1)
    return np.clip(base * 0.6 + rng.integers(0, 100, base.shape), 0, 255).astype(np.uint8)


def _gif_palette(rng: np.random.Generator, colors: int) -> Image.Image:
    indices = rng.integers(0, colors, (13, 11), dtype=np.uint8)
    image = Image.fromarray(indices, "P")
    image.putpalette(rng.integers(0, 256, 3 * colors, dtype=np.uint8).tolist())
    return image


def _bgrx(rng: np.random.Generator, fourth: int | None) -> np.ndarray:
    pixels = rng.integers(0, 256, (9, 7, 4), dtype=np.uint8)
    if fourth is not None:
        pixels[..., 3] = fourth
    return pixels


Writer = Callable[[Path, np.random.Generator], Path]
SHAPE = (9, 7)  # Odd sizes: BMP rows need padding, packed PNG rows a partial last byte.
GRAY_RAMP = np.repeat(np.arange(256, dtype=np.uint8)[:, None], 3, axis=1)
GRAY_ALPHA_RAMP = np.concatenate([GRAY_RAMP, np.zeros((256, 1), np.uint8)], axis=1)


def _random(rng: np.random.Generator, high: int, *channels: int) -> np.ndarray:
    return rng.integers(0, high, (*SHAPE, *channels))


# name -> writer of one file; every file must decode alike on both sides.
READABLE: dict[str, Writer] = {
    "png_gray_16": lambda p, r: write_png(p, _random(r, 65536), 16, GRAY),
    "png_gray_16_dark": lambda p, r: write_png(p, _random(r, 4000), 16, GRAY),
    "png_gray_alpha_16": lambda p, r: write_png(p, _random(r, 65536, 2), 16, GRAY_ALPHA),
    "png_rgb_16": lambda p, r: write_png(p, _random(r, 65536, 3), 16, RGB),
    "png_rgba_16": lambda p, r: write_png(p, _random(r, 65536, 4), 16, RGBA),
    "png_gray_1": lambda p, r: write_png(p, _random(r, 2), 1, GRAY),
    "png_gray_2": lambda p, r: write_png(p, _random(r, 4), 2, GRAY),
    "png_gray_4": lambda p, r: write_png(p, _random(r, 16), 4, GRAY),
    "png_gray_8": lambda p, r: write_png(p, _random(r, 256), 8, GRAY),
    "png_gray_alpha_8": lambda p, r: write_png(p, _random(r, 256, 2), 8, GRAY_ALPHA),
    "png_rgb_8": lambda p, r: write_png(p, _random(r, 256, 3), 8, RGB),
    "png_rgba_8": lambda p, r: write_png(p, _random(r, 256, 4), 8, RGBA),
    "png_gray_color_key": lambda p, r: write_png(p, _random(r, 4), 8, GRAY, trns=b"\0\2"),
    "png_rgb_color_key": lambda p, r: write_png(
        p, _random(r, 2, 3) * 255, 8, RGB, trns=struct.pack(">HHH", 255, 0, 255)
    ),
    "png_palette": lambda p, r: write_png(p, _random(r, 5), 8, PALETTE, r.integers(0, 256, 15)),
    "png_palette_trns": lambda p, r: write_png(
        p, _random(r, 5), 8, PALETTE, r.integers(0, 256, 15), trns=bytes([0, 90, 255])
    ),
    "png_palette_2_bit_trns": lambda p, r: write_png(
        p, _random(r, 4), 2, PALETTE, r.integers(0, 256, 12), trns=bytes([40])
    ),
    "jpeg_rgb": lambda p, r: _pillow(p, Image.fromarray(_gradient(r, 24, 20, 3)), quality=85),
    "jpeg_rgb_444": lambda p, r: _pillow(
        p, Image.fromarray(_gradient(r, 24, 20, 3)), quality=95, subsampling=0
    ),
    "jpeg_gray": lambda p, r: _pillow(p, Image.fromarray(_gradient(r, 24, 20, 1)[..., 0])),
    "jpeg_cmyk": lambda p, r: _pillow(p, Image.fromarray(_gradient(r, 24, 20, 4), "CMYK")),
    "gif_palette": lambda p, r: _pillow(p, _gif_palette(r, 6)),
    "gif_transparent": lambda p, r: _pillow(p, _gif_palette(r, 6), transparency=2),
    "gif_gray": lambda p, r: _pillow(p, Image.fromarray(_gradient(r, 9, 7, 1)[..., 0])),
    "gif_animated": lambda p, r: _pillow(
        p,
        _gif_palette(r, 4),
        save_all=True,
        append_images=[_gif_palette(r, 4), _gif_palette(r, 4)],
    ),
    "bmp_24": lambda p, r: write_bmp(p, _bgrx(r, None)[..., :3], 24),
    "bmp_24_top_down": lambda p, r: write_bmp(p, _bgrx(r, None)[..., :3], 24, top_down=True),
    "bmp_32_reserved_zero": lambda p, r: write_bmp(p, _bgrx(r, 0), 32),
    "bmp_32_reserved_noise": lambda p, r: write_bmp(p, _bgrx(r, None), 32),
    "bmp_32_bitfields": lambda p, r: write_bmp(
        p, _bgrx(r, None), 32, compression=3, masks=(0xFF0000, 0xFF00, 0xFF, 0xFF000000)
    ),
    "bmp_8_palette": lambda p, r: write_bmp(
        p, _random(r, 6), 8, np.concatenate([r.integers(0, 256, (6, 3)), np.zeros((6, 1))], 1)
    ),
    "bmp_8_gray": lambda p, r: write_bmp(p, _random(r, 256), 8, GRAY_ALPHA_RAMP),
    "bmp_8_gray_inverted": lambda p, r: write_bmp(p, _random(r, 256), 8, GRAY_ALPHA_RAMP[::-1]),
}

# name -> writer of a file TensorFlow's decoder misreads or cannot read: both sides refuse it.
REFUSED: dict[str, Writer] = {
    "bmp_1_bit": lambda p, r: _pillow(p, Image.fromarray(_random(r, 2).astype(bool))),
    "bmp_4_bit": lambda p, r: write_bmp(p, np.zeros((9, 4)), 4, np.zeros((16, 4))),
    "bmp_16_bit": lambda p, r: write_bmp(p, np.zeros((9, 14), np.uint8), 16),
    "bmp_rle8": lambda p, r: write_bmp(p, np.zeros((9, 8), np.uint8), 8, GRAY_ALPHA_RAMP, 1),
    "bmp_32_rgba_masks": lambda p, r: write_bmp(
        p, _bgrx(r, None), 32, compression=3, masks=(0xFF, 0xFF00, 0xFF0000, 0xFF000000)
    ),
}

SUFFIXES = {"png": ".png", "jpeg": ".jpg", "gif": ".gif", "bmp": ".bmp"}


def write_case(directory: Path, name: str, seed: int = 0) -> Path:
    """Writes the file of a `READABLE` or `REFUSED` case, named after it."""
    writer = READABLE.get(name) or REFUSED[name]
    path = directory / f"{name}{SUFFIXES[name.split('_')[0]]}"
    return writer(path, np.random.default_rng(seed))


ICON_COLOR = (40, 90, 200)


def alpha_icon(label: int, size: int, rng: np.random.Generator) -> np.ndarray:
    """An RGBA icon whose RGB is one flat color: only its alpha shows the class's shape.

    Class 0 is a disk, 1 a square frame, 2 a plus sign, each at a random place and size.
    """
    y, x = np.mgrid[0:size, 0:size].astype(np.float32)
    radius = rng.uniform(0.25, 0.35) * size
    cy, cx = rng.uniform(radius, size - radius, 2)
    if label == 0:
        shape = (y - cy) ** 2 + (x - cx) ** 2 <= radius**2
    elif label == 1:
        inside = np.maximum(np.abs(y - cy), np.abs(x - cx))
        shape = (inside <= radius) & (inside >= radius * 0.55)
    else:
        bar = radius * 0.3
        shape = ((np.abs(y - cy) <= bar) & (np.abs(x - cx) <= radius)) | (
            (np.abs(x - cx) <= bar) & (np.abs(y - cy) <= radius)
        )
    icon = np.empty((size, size, 4), np.uint8)
    icon[..., :3] = ICON_COLOR
    icon[..., 3] = np.where(shape, 255, rng.integers(0, 30, (size, size)))
    return icon
