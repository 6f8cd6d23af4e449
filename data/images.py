"""Reading image files into model pixels with TensorFlow ops: the training side.

The same steps and formulas as the edge runner's `edge/image_io.py` (its
docstring states them, and what TensorFlow's and Pillow's decoders do
differently), written with TensorFlow ops so they run inside `tf.data`. Tests
check that both give the model the same pixels for the same file.
"""

from __future__ import annotations

import tensorflow as tf

from tasklab.edge.image_io import BMP_RGB_MASKS, MAGIC_BYTES, RGBA_SOURCES, ImageSchema


def decode_native(contents: tf.Tensor, schema: ImageSchema) -> tf.Tensor:
    """Decodes an image file's bytes to its native channels (step 1).

    Args:
        contents: the file's bytes (a scalar string tensor).
        schema: gives the 16-bit divisor.

    Returns:
        `(height, width, channels)` float32 samples in 0..255, channels 1 to 4.
        An unknown format, a broken file or an unsupported BMP raises
        `InvalidArgumentError` when the op runs.
    """

    def png():
        # 16 bits for every PNG: 8-bit ones come multiplied by 257, which the division undoes.
        samples = tf.io.decode_png(contents, dtype=tf.uint16)
        return tf.cast(samples, tf.float32) / schema.sixteen_bit_divisor

    def jpeg():
        # The default INTEGER_FAST IDCT is up to 4 levels off Pillow's; ACCURATE equals it.
        return tf.cast(tf.io.decode_jpeg(contents, dct_method="INTEGER_ACCURATE"), tf.float32)

    def gif():
        return tf.cast(tf.io.decode_gif(contents)[0], tf.float32)  # The first frame.

    def unknown():
        check = tf.debugging.Assert(False, ["Not a PNG, JPEG, GIF or BMP file."])
        with tf.control_dependencies([check]):
            return tf.zeros([0, 0, 1])

    decoders = {"png": png, "jpeg": jpeg, "gif": gif, "bmp": lambda: _decode_bmp(contents)}
    return tf.case(
        [(_starts_with(contents, MAGIC_BYTES[kind]), decode) for kind, decode in decoders.items()],
        default=unknown,
        exclusive=True,
    )


def _starts_with(contents: tf.Tensor, magic: bytes) -> tf.Tensor:
    return tf.equal(tf.strings.substr(contents, 0, len(magic)), magic)


def _decode_bmp(contents: tf.Tensor) -> tf.Tensor:
    """An uncompressed 8-, 24- or 32-bit BMP; `tf.io.decode_bmp` alone misreads the others.

    It ignores compression and channel masks and returns an 8-bit BMP's palette
    indices as gray levels, so the header is checked here and the palette applied.
    """
    header_size, bits = _field(contents, 14, 4), _field(contents, 28, 2)
    compression = _field(contents, 30, 4)
    masks = tf.stack([_field(contents, 54 + 4 * i, 4) for i in range(3)])
    supported = (header_size >= 40) & (
        ((compression == 0) & ((bits == 8) | (bits == 24) | (bits == 32)))
        | ((compression == 3) & (bits == 32) & tf.reduce_all(masks == BMP_RGB_MASKS))
    )
    check = tf.debugging.Assert(
        supported,
        ["BMP not read alike by TensorFlow and the runner (bits, compression):", bits, compression],
    )
    with tf.control_dependencies([check]):
        samples = tf.io.decode_bmp(contents)
    # The 4th byte of a 32-bit BMP is "reserved" (often 0), not alpha: keep R, G, B only.
    return tf.cond(
        bits == 8,
        lambda: _apply_bmp_palette(contents, header_size, samples),
        lambda: tf.cast(samples[..., :3], tf.float32),
    )


def _apply_bmp_palette(contents: tf.Tensor, header_size: tf.Tensor, indices: tf.Tensor):
    colors = _field(contents, 46, 4)
    colors = tf.minimum(tf.where(colors == 0, tf.constant(256, tf.int64), colors), 256)
    entries = tf.io.decode_raw(tf.strings.substr(contents, 14 + header_size, 4 * colors), tf.uint8)
    rgb = tf.reverse(tf.reshape(entries, [-1, 4])[:, :3], axis=[1])  # B, G, R -> R, G, B.
    palette = tf.pad(rgb, [[0, 256 - tf.shape(rgb)[0]], [0, 0]])  # Indices past it: black.
    pixels = tf.cast(tf.gather(palette, tf.cast(indices[..., 0], tf.int32)), tf.float32)
    gray = tf.reduce_all(rgb == rgb[:, :1])
    return tf.cond(gray, lambda: pixels[..., :1], lambda: pixels)


def _field(contents: tf.Tensor, offset: int, size: int) -> tf.Tensor:
    """An unsigned little-endian integer of `size` bytes at `offset`, as int64."""
    raw = tf.io.decode_raw(tf.strings.substr(contents, offset, size), tf.uint8)
    weights = tf.constant([256**i for i in range(size)], tf.int64)
    return tf.reduce_sum(tf.cast(raw, tf.int64) * weights)


def to_rgba(native: tf.Tensor) -> tf.Tensor:
    """Step 2: `(height, width, 1..4)` samples as `(height, width, 4)` RGBA."""
    shape = tf.shape(native)
    opaque = tf.fill([shape[0], shape[1], 1], 255.0)
    sources = tf.gather(tf.constant(RGBA_SOURCES), shape[2] - 1)
    return tf.gather(tf.concat([native, opaque], axis=-1), sources, axis=-1)


def convert_pixels(native: tf.Tensor, channels: int, schema: ImageSchema) -> tf.Tensor:
    """Native samples -> the model's channels (steps 2 to 4).

    Args:
        native: `(height, width, 1..4)` float32 samples from `decode_native`.
        channels: the model's input channels (1 gray, 2 gray + alpha, 3 RGB, 4 RGBA).
        schema: the alpha handling, background and luma weights.

    Returns:
        `(height, width, channels)` float32 pixels in 0..255.
    """
    rgba = to_rgba(native)
    color, alpha = rgba[..., :3], rgba[..., 3:]
    if schema.alpha == "composite":
        opacity = alpha / 255.0
        background = tf.constant(schema.background, tf.float32)
        color = color * opacity + background * (1.0 - opacity)
    keeps_alpha = schema.keeps_alpha(channels)
    if channels - keeps_alpha == 1:
        gray = stays_gray(native, schema)
        red, green, blue = schema.luma_weights
        luma = color[..., 0] * red + color[..., 1] * green + color[..., 2] * blue
        color = tf.where(gray, color[..., :1], luma[..., None])
    pixels = tf.concat([color, alpha], axis=-1) if keeps_alpha else color
    pixels.set_shape([None, None, channels])
    return pixels


def stays_gray(native: tf.Tensor, schema: ImageSchema) -> tf.Tensor:
    """`ImageSchema.stays_gray` of a decoded image, as a boolean tensor."""
    native_channels = tf.shape(native)[-1]
    opaque = tf.reduce_all(to_rgba(native)[..., 3] == 255.0)
    composited = schema.alpha == "composite" and not schema.gray_background
    if composited:
        return (native_channels == 1) | ((native_channels == 2) & opaque)
    return native_channels <= 2


def is_transparent(native: tf.Tensor) -> tf.Tensor:
    """Whether a decoded image has alpha below 255 somewhere."""
    return tf.reduce_any(to_rgba(native)[..., 3] < 255.0)


def is_sixteen_bit(contents: tf.Tensor) -> tf.Tensor:
    """Whether the file is a 16-bit PNG (the IHDR bit depth, byte 24)."""
    png = _starts_with(contents, MAGIC_BYTES["png"])
    return png & tf.equal(tf.strings.substr(contents, 24, 1), b"\x10")


def decode_image_file(path: tf.Tensor, channels: int, schema: ImageSchema) -> tf.Tensor:
    """Reads one image file as the model's float32 `(height, width, channels)` pixels."""
    return convert_pixels(decode_native(tf.io.read_file(path), schema), channels, schema)
