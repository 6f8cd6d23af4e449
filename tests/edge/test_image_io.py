"""The runner decodes image files to exactly the pixels the training pipeline feeds the model."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from tasklab.data.images import decode_image_file
from tasklab.edge.edge_inputs import EdgeInputError, load_image
from tasklab.edge.image_io import ImageSchema
from tests.image_files import (
    GRAY_ALPHA,
    READABLE,
    REFUSED,
    RGB,
    RGBA,
    SHAPE,
    write_case,
    write_png,
)

# Pixels are 0..255 floats; any decoder difference is at least 1/257 (a 16-bit step).
TOLERANCE = 1e-4
SCHEMAS = {
    "composite_white": ImageSchema(),
    "composite_red": ImageSchema(background=(255.0, 0.0, 0.0)),
    "composite_gray": ImageSchema(background=(100.0, 100.0, 100.0)),
    "channel": ImageSchema(alpha="channel"),
}


def pipeline_pixels_of(paths, channels: int, schema: ImageSchema) -> list[np.ndarray]:
    """What the training pipeline feeds the model for each file (decoded inside tf.data)."""
    decode = tf.data.Dataset.from_tensor_slices([str(p) for p in paths]).map(
        lambda p: decode_image_file(p, channels, schema)
    )
    return list(decode.as_numpy_iterator())


def pipeline_pixels(path, channels: int, schema: ImageSchema) -> np.ndarray:
    return pipeline_pixels_of([path], channels, schema)[0]


def runner_pixels(path, channels: int, schema: ImageSchema | None) -> np.ndarray:
    """What the runner feeds the model, from a bundle's `input` section (None: an old bundle)."""
    with Image.open(path) as opened:
        width, height = opened.size  # The header only: refused files are not decoded.
    described = {"kind": "image", "height": height, "width": width, "channels": channels}
    return load_image(path, described if schema is None else {**described, **schema.to_json()})


def channel_counts(schema: ImageSchema) -> tuple[int, ...]:
    return (1, 2, 3, 4) if schema.alpha == "channel" else (1, 3)


@pytest.fixture(scope="module")
def readable(tmp_path_factory):
    """Every readable case's file, and its pipeline pixels per (schema, channels)."""
    directory = tmp_path_factory.mktemp("formats")
    paths = {case: write_case(directory, case) for case in sorted(READABLE)}
    expected = {}
    for name, schema in SCHEMAS.items():
        for channels in channel_counts(schema):
            pixels = pipeline_pixels_of(paths.values(), channels, schema)
            expected[name, channels] = dict(zip(paths, pixels, strict=True))
    return paths, expected


@pytest.mark.parametrize("case", sorted(READABLE))
def test_runner_and_pipeline_give_the_same_pixels(readable, case):
    paths, expected = readable
    for (name, channels), pixels in expected.items():
        got = runner_pixels(paths[case], channels, SCHEMAS[name])
        assert got.shape == pixels[case].shape, (name, channels)
        np.testing.assert_allclose(got, pixels[case], rtol=0, atol=TOLERANCE, err_msg=name)


def test_an_old_bundle_drops_alpha_as_its_training_did(tmp_path):
    path = write_case(tmp_path, "png_rgba_8")
    rgba = np.asarray(Image.open(path)).astype(np.float32)
    np.testing.assert_array_equal(runner_pixels(path, 3, None), rgba[..., :3])
    legacy = ImageSchema(alpha="drop")
    np.testing.assert_allclose(
        runner_pixels(path, 1, None), pipeline_pixels(path, 1, legacy), rtol=0, atol=TOLERANCE
    )


def test_sixteen_bit_gray_is_scaled_where_pillow_convert_saturates(tmp_path):
    path = write_case(tmp_path, "png_gray_16_dark")  # Samples 0..3999 of 65535: a dark image.
    expected = pipeline_pixels(path, 1, ImageSchema())
    samples = np.asarray(Image.open(path)).astype(np.float32)
    np.testing.assert_allclose(expected[..., 0], samples / 257, rtol=1e-6)
    np.testing.assert_allclose(runner_pixels(path, 1, ImageSchema()), expected, atol=TOLERANCE)
    saturated = np.asarray(Image.open(path).convert("L")).astype(np.float32)
    assert (saturated[samples >= 255] == 255).all()  # Pillow clips: almost every pixel white.
    assert np.abs(saturated - expected[..., 0]).max() > 200


@pytest.mark.parametrize(("color_type", "channels"), [(RGB, 3), (RGBA, 4), (GRAY_ALPHA, 2)])
def test_sixteen_bit_color_keeps_its_low_byte(tmp_path, color_type, channels):
    samples = np.random.default_rng(0).integers(0, 65536, (*SHAPE, channels))
    path = write_png(tmp_path / "deep.png", samples, 16, color_type)
    # Pillow alone gives the high bytes (and gray + alpha as RGBA).
    assert np.asarray(Image.open(path)).dtype == np.uint8
    pixels = runner_pixels(path, channels, ImageSchema(alpha="channel"))
    np.testing.assert_allclose(pixels, samples / 257, rtol=1e-6)


def test_alpha_composites_over_the_background_and_keeps_opaque_pixels(tmp_path):
    rgba = np.zeros((*SHAPE, 4), np.uint8)
    rgba[..., :3] = (40, 90, 200)
    rgba[..., 3] = 0
    rgba[2:5, 1:4, 3] = 255
    rgba[6, 2, 3] = 51  # 20% opaque.
    path = tmp_path / "icon.png"
    Image.fromarray(rgba).save(path)
    red = runner_pixels(path, 3, ImageSchema(background=(255.0, 0.0, 0.0)))
    np.testing.assert_array_equal(red[3, 2], [40, 90, 200])
    np.testing.assert_array_equal(red[0, 0], [255, 0, 0])
    np.testing.assert_allclose(red[6, 2], [0.2 * 40 + 0.8 * 255, 0.2 * 90, 0.2 * 200], rtol=1e-6)
    gray = runner_pixels(path, 1, ImageSchema())
    np.testing.assert_allclose(gray[0, 0], [255.0], rtol=1e-6)
    np.testing.assert_allclose(gray[3, 2], [0.299 * 40 + 0.587 * 90 + 0.114 * 200], rtol=1e-6)
    kept = runner_pixels(path, 4, ImageSchema(alpha="channel"))
    np.testing.assert_array_equal(kept, rgba.astype(np.float32))


def test_gif_transparency_is_black_on_both_sides(tmp_path):
    path = write_case(tmp_path, "gif_transparent")
    with Image.open(path) as opened:
        transparent = np.asarray(opened) == opened.info["transparency"]
        color = np.asarray(opened.convert("RGB"))[transparent]
    assert transparent.any() and color.any()  # The transparent index has a color of its own.
    pixels = pipeline_pixels(path, 3, ImageSchema())
    assert (pixels[transparent] == 0).all()
    np.testing.assert_array_equal(runner_pixels(path, 3, ImageSchema()), pixels)


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_bmps_tensorflow_misreads_are_refused_by_both(tmp_path, case):
    path = write_case(tmp_path, case)
    with pytest.raises(tf.errors.InvalidArgumentError):
        pipeline_pixels(path, 3, ImageSchema())
    with pytest.raises(EdgeInputError, match=r"BMP.*Convert it to PNG"):
        runner_pixels(path, 3, ImageSchema())


def test_an_eight_bit_bmp_palette_is_applied(tmp_path):
    path = write_case(tmp_path, "bmp_8_palette")
    np.testing.assert_array_equal(
        pipeline_pixels(path, 3, ImageSchema()), np.asarray(Image.open(path).convert("RGB"))
    )
