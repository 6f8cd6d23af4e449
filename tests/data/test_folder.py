from __future__ import annotations

import logging

import numpy as np
import pytest
from PIL import Image

from tasklab.core.config import ConfigError, DataConfig, ImageConfig, parse_section
from tasklab.data import DataError, load_dataset
from tests.conftest import class_pattern, write_image
from tests.image_files import ICON_COLOR, RGB, alpha_icon, write_case, write_png


def load(root, **options):
    return load_dataset(DataConfig(uri=f"folder:{root}", **options), seed=0)


def test_folder_loads_stratified_streamed_splits(image_folder):
    root = image_folder(per_class=20)
    dataset = load(root)
    assert dataset.spec.class_names == ("circle", "square", "triangle")
    assert dataset.spec.example_shape == (16, 16, 3)
    assert dataset.split_sizes() == {"train": 42, "val": 6, "test": 12}
    for split in (dataset.train, dataset.val, dataset.test):
        assert not split.in_memory
        assert np.bincount(split.labels).tolist() == [len(split) // 3] * 3
    images, labels = zip(*dataset.test.make_dataset().as_numpy_iterator(), strict=True)
    assert np.asarray(labels).tolist() == dataset.test.labels.tolist()
    assert images[0].dtype == np.uint8 and images[0].shape == (16, 16, 3)
    # The bright band encodes the class: the decoded pixels are the written ones.
    band_rows = np.flatnonzero(images[0][:, :, 0].mean(axis=1) > 200)
    assert band_rows.min() == labels[0] * 4


def test_same_seed_same_split_and_fingerprint(image_folder):
    root = image_folder()
    first, second = load(root), load(root)
    assert first.fingerprint == second.fingerprint
    np.testing.assert_array_equal(first.test.labels, second.test.labels)
    other = load_dataset(DataConfig(uri=f"folder:{root}"), seed=1)

    def test_images(dataset):
        return {x.tobytes() for x, _ in dataset.test.make_dataset().as_numpy_iterator()}

    assert test_images(first) == test_images(second) != test_images(other)
    assert other.fingerprint == first.fingerprint


def test_fingerprint_changes_with_content(image_folder):
    root = image_folder()
    before = load(root).fingerprint
    write_image(root / "circle" / "000.png", np.zeros((16, 16, 3), np.uint8))
    assert load(root).fingerprint != before


def test_shuffled_split_reshuffles_and_keeps_examples(image_folder):
    split = load(image_folder(per_class=20)).train
    epoch = split.make_dataset(shuffle_seed=3)
    first = [int(y) for _, y in epoch.as_numpy_iterator()]
    second = [int(y) for _, y in epoch.as_numpy_iterator()]
    assert sorted(first) == sorted(split.labels.tolist()) == sorted(second)
    assert first != second


def test_grayscale_and_mixed_sizes_use_the_most_common_size(tmp_path):
    rng = np.random.default_rng(0)
    for label, name in enumerate(["a", "b"]):
        for i in range(6):
            size = 20 if i else 31  # One odd-sized image per class.
            gray = class_pattern(label, size, rng)[:, :, :1]
            write_image(tmp_path / name / f"{i}.jpg", gray)
    dataset = load(tmp_path)
    assert dataset.spec.example_shape == (20, 20, 1)


def test_corrupt_file_is_named(image_folder):
    root = image_folder()
    (root / "square" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really a png")
    with pytest.raises(
        DataError, match=r"1 image file\(s\).*square/broken.png.*data.skip_corrupt: true"
    ):
        load(root)


def test_skip_corrupt_skips_with_a_warning_that_names_the_file(image_folder, caplog):
    root = image_folder(per_class=12)
    (root / "square" / "broken.jpg").write_bytes(b"garbage")
    (root / "square" / "notes.txt").write_text("not an image")
    with caplog.at_level(logging.WARNING):
        dataset = load(root, skip_corrupt=True)
    assert "square/broken.jpg" in caplog.text
    assert sum(dataset.split_sizes().values()) == 36
    assert any("broken.jpg" in note for note in dataset.notes)
    assert any("notes.txt" in note for note in dataset.notes)


@pytest.mark.parametrize(
    ("layout", "message"),
    [
        ({}, "has no class sub-folders"),
        ({"only": 5}, "single class sub-folder.*at least 2 classes"),
        ({"cats": 5, "dogs": 0}, r"\['dogs'\].*hold no PNG/JPEG images"),
        ({"cats": 5, "dogs": 1}, "at least 3 examples.*'dogs' \\(1\\)"),
    ],
)
def test_bad_folders(tmp_path, layout, message):
    rng = np.random.default_rng(0)
    for name, count in layout.items():
        (tmp_path / name).mkdir()
        for i in range(count):
            write_image(tmp_path / name / f"{i}.png", class_pattern(0, 8, rng))
    with pytest.raises(DataError, match=message):
        load(tmp_path)


def test_missing_path_and_file_path(tmp_path):
    with pytest.raises(DataError, match=r"does not exist. Check data.uri"):
        load(tmp_path / "nope")
    (tmp_path / "file.png").write_bytes(b"")
    with pytest.raises(DataError, match="is a file"):
        load(tmp_path / "file.png")


def test_all_files_of_a_class_corrupt_is_an_empty_class(image_folder):
    root = image_folder(classes=("a", "b"), per_class=4)
    for file in (root / "b").iterdir():
        file.write_bytes(b"junk")
    with pytest.raises(DataError, match=r"\['b'\].*after skipping corrupt files"):
        load(root, skip_corrupt=True)


def write_icons(root, size=12, per_class=6, classes=("disk", "frame", "plus")):
    rng = np.random.default_rng(0)
    for label, name in enumerate(classes):
        for i in range(per_class):
            Image.fromarray(alpha_icon(label, size, rng)).save(root / name / f"{i}.png")
    return root


def decoded(split):
    return np.stack([x for x, _ in split.make_dataset().as_numpy_iterator()])


def test_alpha_is_composited_over_white_and_counted(tmp_path):
    for name in ("disk", "frame", "plus"):
        (tmp_path / name).mkdir()
    root = write_icons(tmp_path)
    Image.fromarray(np.full((12, 12, 3), 7, np.uint8)).save(root / "disk" / "opaque.png")
    dataset = load(root)
    assert dataset.spec.example_shape == (12, 12, 3)
    assert any(
        "18 of 19 images have transparency: composited over white (data.image.alpha: composite)"
        in note
        for note in dataset.notes
    ), dataset.notes
    pixels = decoded(dataset.train)
    assert pixels.dtype == np.float32
    # Every pixel lies between the icon's color (opaque) and white (transparent), and both occur.
    for channel, color in enumerate(ICON_COLOR):
        values = pixels[..., channel][pixels[..., 1] != 7]
        assert values.min() == color and values.max() > 250
    # The classes' flat RGB alone is one image: only composited alpha tells them apart.
    assert len({x.tobytes() for x in pixels}) == len(pixels)


def test_alpha_channel_keeps_alpha_as_a_fourth_channel(tmp_path):
    for name in ("disk", "frame", "plus"):
        (tmp_path / name).mkdir()
    root = write_icons(tmp_path)
    dataset = load(root, image=ImageConfig(alpha="channel"))
    assert dataset.spec.example_shape == (12, 12, 4)
    assert any("alpha is kept as the last of the model's 4 channels" in n for n in dataset.notes)
    pixels = decoded(dataset.test)
    assert pixels.dtype == np.uint8  # No compositing: whole values, as decoded.
    assert (pixels[..., :3] == ICON_COLOR).all() and pixels[..., 3].max() == 255


@pytest.mark.parametrize(
    ("image", "channels"),
    [
        (ImageConfig(), 1),  # White is a gray: gray + alpha stays gray.
        (ImageConfig(background=128), 1),
        (ImageConfig(background=[255, 0, 0]), 3),  # Composited over red, gray icons turn red.
        (ImageConfig(alpha="channel"), 2),
    ],
)
def test_gray_with_alpha_stays_one_channel_unless_the_background_is_a_color(
    tmp_path, image, channels
):
    rng = np.random.default_rng(0)
    for label, name in enumerate(["a", "b"]):
        for i in range(4):
            gray = class_pattern(label, 8, rng)[..., 0]
            alpha = np.where(gray > 200, 255, 0).astype(np.uint8)
            write_image(tmp_path / name / f"{i}.png", np.stack([gray, alpha], -1))
    assert load(tmp_path, image=image).spec.example_shape == (8, 8, channels)


def test_alpha_channel_without_transparency_adds_no_channel(image_folder):
    dataset = load(image_folder(), image=ImageConfig(alpha="channel"))
    assert dataset.spec.example_shape == (16, 16, 3)
    assert "No image has transparency, so data.image.alpha: channel adds no channel." in (
        dataset.notes
    )


def test_bmp_gif_and_sixteen_bit_png_are_read_and_counted(tmp_path):
    rng = np.random.default_rng(0)
    for label, name in enumerate(["a", "b"]):
        for i in range(3):
            rgb = class_pattern(label, 8, rng)
            write_image(tmp_path / name / f"{i}.bmp", rgb)
            write_image(tmp_path / name / f"{i}.gif", rgb)
            write_png(tmp_path / name / f"{i}.png", rgb.astype(np.uint16) * 257 + 100, 16, RGB)
    dataset = load(tmp_path)
    assert sum(dataset.split_sizes().values()) == 18 and dataset.spec.example_shape == (8, 8, 3)
    assert "6 image(s) are 16-bit PNGs: their samples are scaled to 0..255 (value / 257)." in (
        dataset.notes
    )
    sixteen_bit = [x for x in decoded(dataset.train) if not np.allclose(x, np.round(x))]
    assert sixteen_bit and all(np.abs(x * 257 % 257 - 100).max() < 1e-2 for x in sixteen_bit)


def test_a_bmp_tensorflow_would_misread_is_named(image_folder):
    root = image_folder()
    write_case(root / "square", "bmp_rle8")
    with pytest.raises(DataError, match=r"1 image file\(s\).*square/bmp_rle8.bmp"):
        load(root)


def test_image_config_reads_three_background_forms_and_names_the_others():
    assert ImageConfig().background_rgb == (255.0, 255.0, 255.0)
    assert ImageConfig(background="Black").background_rgb == (0.0, 0.0, 0.0)
    assert ImageConfig(background=200).background_rgb == (200.0, 200.0, 200.0)
    assert ImageConfig(background=[255, 0, 0.5]).background == (255, 0, 0.5)
    for bad, hint in [("whit", "Did you mean 'white'"), (300, ""), ([1, 2], ""), (True, "")]:
        with pytest.raises(ConfigError, match=r"data.image.background must be a color name"):
            ImageConfig(background=bad)
        if hint:
            with pytest.raises(ConfigError, match=hint):
                ImageConfig(background=bad)
    with pytest.raises(ConfigError, match=r"'data.image.alpha' option must be one of"):
        parse_section(DataConfig, {"uri": "folder:x", "image": {"alpha": "keep"}}, "data")
