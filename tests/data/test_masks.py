"""Segmentation masks: pairing `images/` with `masks/`, reading and checking masks, resizing."""

from __future__ import annotations

import ast
import logging
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFile

from tasklab.core.segmentation_metrics import IGNORE
from tasklab.data.base import DataError
from tasklab.data.masks import (
    MaskPair,
    classes_present,
    pair_images_and_masks,
    read_class_names,
    read_mask,
    resize_mask,
    scan_masks,
)
from tests.image_files import GRAY, write_png

MODULE = Path(__file__).resolve().parents[2] / "data" / "masks.py"


def voc_palette() -> list[int]:
    """Pascal VOC's colour map: index i's colour from the bits of i (255 is 224, 224, 192)."""
    palette = []
    for index in range(256):
        r = g = b = 0
        value = index
        for shift in range(7, -1, -1):
            r |= (value & 1) << shift
            g |= ((value >> 1) & 1) << shift
            b |= ((value >> 2) & 1) << shift
            value >>= 3
        palette += [r, g, b]
    return palette


def index_mask(height=6, width=8, classes=3) -> np.ndarray:
    """Class bands 0..classes-1 with a 255 border, as VOC marks object outlines."""
    mask = (np.arange(width)[None, :] * classes // width).repeat(height, 0).astype(np.uint8)
    mask[0, :] = IGNORE
    return mask


def save_gray(path: Path, mask: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(mask).save(path)
    return path


def save_palette(path: Path, mask: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    image = Image.frombytes("P", (mask.shape[1], mask.shape[0]), mask.tobytes())
    image.putpalette(voc_palette())
    image.save(path)
    return path


def save_image(path: Path, width=8, height=6) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((height, width, 3), 120, np.uint8)).save(path)
    return path


def dataset(root: Path, stems=("a", "b", "c"), suffix=".jpg", classes=3) -> Path:
    for stem in stems:
        save_image(root / "images" / f"{stem}{suffix}")
        save_gray(root / "masks" / f"{stem}.png", index_mask(classes=classes))
    return root


def with_ihdr_size(path: Path, width: int, height: int) -> Path:
    """Rewrites a PNG's IHDR to declare `width` x `height` (its pixel data unchanged)."""
    data = bytearray(path.read_bytes())
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    path.write_bytes(bytes(data))
    return path


# Pairing.


def test_pairs_images_and_masks_by_stem_in_stem_order(tmp_path):
    root = dataset(tmp_path, stems=("b", "a"))
    save_image(root / "images" / "c.png")
    save_gray(root / "masks" / "c.png", index_mask())
    pairs, notes = pair_images_and_masks(root, skip_corrupt=False)
    assert [pair.stem for pair in pairs] == ["a", "b", "c"]
    assert pairs[0] == MaskPair("a", root / "images" / "a.jpg", root / "masks" / "a.png")
    assert notes == []


def test_an_image_without_a_mask_is_an_error_naming_it_and_its_mask(tmp_path):
    root = dataset(tmp_path)
    save_image(root / "images" / "lonely.jpg")
    with pytest.raises(DataError) as error:
        pair_images_and_masks(root, skip_corrupt=False)
    message = str(error.value)
    assert str(root / "images" / "lonely.jpg") in message
    assert str(root / "masks" / "lonely.png") in message
    assert "add the masks" in message
    assert "data.skip_corrupt: true" in message


def test_an_image_whose_mask_is_a_jpeg_is_told_masks_are_pngs(tmp_path):
    root = dataset(tmp_path)
    save_image(root / "images" / "d.jpg")
    save_image(root / "masks" / "d.jpg")
    with pytest.raises(DataError, match=r"masks/d\.jpg' is there, but a mask must be a PNG"):
        pair_images_and_masks(root, skip_corrupt=False)


def test_skip_corrupt_skips_an_image_without_a_mask_with_a_note(tmp_path, caplog):
    root = dataset(tmp_path)
    save_image(root / "images" / "lonely.jpg")
    with caplog.at_level(logging.WARNING):
        pairs, notes = pair_images_and_masks(root, skip_corrupt=True)
    assert [pair.stem for pair in pairs] == ["a", "b", "c"]
    assert notes == ["Skipped 1 image(s) without a mask: images/lonely.jpg."]
    assert "images/lonely.jpg" in caplog.text


def test_a_mask_without_an_image_and_other_files_are_noted(tmp_path):
    root = dataset(tmp_path)
    save_gray(root / "masks" / "orphan.png", index_mask())
    (root / "images" / "readme.txt").write_text("notes")
    (root / "masks" / ".DS_Store").write_bytes(b"hidden")
    pairs, notes = pair_images_and_masks(root, skip_corrupt=False)
    assert len(pairs) == 3
    assert notes == [
        "Ignored 1 mask(s) without an image: masks/orphan.png.",
        "Ignored 1 file(s) that are not PNG/JPEG/BMP/GIF images: images/readme.txt.",
    ]


@pytest.mark.parametrize("missing", ["images", "masks"])
def test_a_missing_folder_is_an_error_that_gives_the_layout(tmp_path, missing):
    root = dataset(tmp_path)
    for file in (root / missing).iterdir():
        file.unlink()
    (root / missing).rmdir()
    with pytest.raises(DataError) as error:
        pair_images_and_masks(root, skip_corrupt=False)
    message = str(error.value)
    assert f"'{root}' has no {missing}/ folder" in message
    assert "images/NAME.jpg + masks/NAME.png" in message
    assert "SegmentationClass as masks" in message


def test_a_voc_layout_is_told_which_folders_to_link(tmp_path):
    (tmp_path / "JPEGImages").mkdir()
    (tmp_path / "SegmentationClass").mkdir()
    with pytest.raises(DataError, match=r"no images/ or masks/ folder \(it holds the folders "):
        pair_images_and_masks(tmp_path, skip_corrupt=False)


def test_a_missing_root_or_a_file_is_an_error(tmp_path):
    with pytest.raises(DataError, match=r"does not exist\. Check data\.uri"):
        pair_images_and_masks(tmp_path / "nowhere", skip_corrupt=False)
    (tmp_path / "file").write_text("x")
    with pytest.raises(DataError, match=r"is a file; a segmentation dataset folder holds"):
        pair_images_and_masks(tmp_path / "file", skip_corrupt=False)


def test_two_images_with_one_stem_are_an_error_naming_both(tmp_path):
    root = dataset(tmp_path)
    save_image(root / "images" / "a.png")
    with pytest.raises(DataError) as error:
        pair_images_and_masks(root, skip_corrupt=False)
    message = str(error.value)
    assert "'a': images/a.jpg, images/a.png" in message
    assert "rename or remove the others" in message


def test_no_images_or_no_pairs_are_errors(tmp_path):
    (tmp_path / "images").mkdir()
    (tmp_path / "masks").mkdir()
    with pytest.raises(DataError, match=r"holds no PNG/JPEG/BMP/GIF images\. Put the images"):
        pair_images_and_masks(tmp_path, skip_corrupt=False)
    save_image(tmp_path / "images" / "a.jpg")
    save_gray(tmp_path / "masks" / "b.png", index_mask())
    with pytest.raises(DataError, match=r"No image in .* has a mask.*check that the names agree"):
        pair_images_and_masks(tmp_path, skip_corrupt=True)


# Reading masks.


def test_a_grayscale_mask_reads_as_its_indices(tmp_path):
    mask = index_mask(classes=3)
    read = read_mask(save_gray(tmp_path / "m.png", mask), (8, 6), classes=3)
    assert read.dtype == np.uint8
    np.testing.assert_array_equal(read, mask)


def test_a_voc_palette_mask_reads_as_its_palette_indices_not_colours(tmp_path):
    mask = index_mask(classes=21)
    path = save_palette(tmp_path / "voc.png", mask)
    assert Image.open(path).mode == "P"
    read = read_mask(path, (8, 6), classes=21)
    np.testing.assert_array_equal(read, mask)
    assert (read[0] == IGNORE).all()


@pytest.mark.parametrize("bits", [1, 2, 4])
def test_low_bit_grayscale_samples_are_the_indices_not_scaled(tmp_path, bits):
    samples = (np.arange(16).reshape(2, 8) % 2**bits).astype(np.uint8)
    path = write_png(tmp_path / "low.png", samples, bits, GRAY)
    np.testing.assert_array_equal(read_mask(path, (8, 2), classes=2**bits), samples)


def test_a_16_bit_mask_reads_when_its_values_fit_and_is_refused_when_not(tmp_path):
    fits = np.array([[0, 1, 2, 255]])
    path = write_png(tmp_path / "fits.png", fits, 16, GRAY)
    np.testing.assert_array_equal(read_mask(path, (4, 1), classes=3), fits)
    path = write_png(tmp_path / "big.png", np.array([[0, 1, 300, 2]]), 16, GRAY)
    with pytest.raises(DataError) as error:
        read_mask(path, (4, 1), classes=3)
    message = str(error.value)
    assert f"'{path}'" in message and "the value 300" in message
    assert "Save it as an 8-bit grayscale or palette PNG" in message


@pytest.mark.parametrize("mode", ["RGB", "RGBA"])
def test_a_colour_mask_is_refused_saying_masks_hold_indices(tmp_path, mode):
    path = tmp_path / "colour.png"
    Image.new(mode, (8, 6), (128, 0, 0, 255)[: len(mode)]).save(path)
    with pytest.raises(DataError) as error:
        read_mask(path, (8, 6), classes=3)
    message = str(error.value)
    assert f"'{path}' is a colour ({mode}) PNG" in message
    assert "must hold class indices (a grayscale or palette PNG), not colours" in message
    assert "Map each colour to its class index" in message


def test_a_mask_with_alpha_is_refused(tmp_path):
    path = tmp_path / "alpha.png"
    Image.new("LA", (8, 6), (1, 255)).save(path)
    with pytest.raises(DataError, match=r"alpha\.png' is a PNG of mode LA.*without alpha.*Save"):
        read_mask(path, (8, 6), classes=3)


def test_a_mask_of_another_size_names_both_sizes_and_both_files(tmp_path):
    path = save_gray(tmp_path / "masks" / "a.png", index_mask(height=6, width=8))
    image = tmp_path / "images" / "a.jpg"
    with pytest.raises(DataError) as error:
        read_mask(path, (10, 6), classes=3, image=image)
    message = str(error.value)
    assert f"'{path}' is 8 x 6 pixels but its image '{image}' is 10 x 6" in message
    assert "Export the mask at the image's size" in message


def test_an_index_outside_the_classes_names_the_file_the_index_and_classes_txt(tmp_path):
    mask = index_mask(classes=3)
    mask[3, 3] = 7
    path = save_gray(tmp_path / "m.png", mask)
    with pytest.raises(DataError) as error:
        read_mask(path, (8, 6), classes=3)
    message = str(error.value)
    assert f"'{path}' holds the class index(es) 7, but there are 3 classes" in message
    assert "255 marks ignored pixels" in message
    assert "name every class in classes.txt" in message
    assert read_mask(path, (8, 6), classes=None)[3, 3] == 7


def test_a_truncated_or_broken_png_is_an_error_naming_it(tmp_path):
    whole = save_gray(
        tmp_path / "whole.png", np.random.default_rng(0).integers(0, 3, (64, 64), dtype=np.uint8)
    )
    data = whole.read_bytes()
    truncated = tmp_path / "truncated.png"
    truncated.write_bytes(data[: len(data) // 2])
    flipped = bytearray(data)
    flipped[60] ^= 0xFF  # In the compressed pixels: a broken stream.
    (tmp_path / "flipped.png").write_bytes(bytes(flipped))
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really a png at all, no")
    for name, problem in [
        ("truncated", "image file is truncated"),
        ("flipped", "broken data stream"),
        ("broken", "cannot identify image file"),
    ]:
        path = tmp_path / f"{name}.png"
        with pytest.raises(DataError) as error:
            read_mask(path, (64, 64), classes=3)
        assert f"The mask '{path}' is not a readable PNG ({problem}" in str(error.value)
        assert "corrupt or truncated. Export it again" in str(error.value)


def test_a_mask_that_is_not_a_png_is_refused(tmp_path):
    path = tmp_path / "m.png"
    Image.fromarray(index_mask()).save(path, format="JPEG")
    with pytest.raises(DataError, match=r"m\.png' is not a PNG \(a JPEG file\).*Save it as"):
        read_mask(path, (8, 6), classes=3)
    with pytest.raises(DataError, match=r"cannot be read \(No such file"):
        read_mask(tmp_path / "absent.png", (8, 6), classes=3)


@pytest.fixture
def no_decoding(monkeypatch):
    """Fails a test that decodes any image's pixels."""

    def load(self):
        raise AssertionError(f"{self} was decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", load)


def test_a_header_declaring_ten_billion_pixels_is_refused_before_decoding(tmp_path, no_decoding):
    path = with_ihdr_size(save_gray(tmp_path / "bomb.png", index_mask()), 100_000, 100_000)
    with pytest.raises(DataError) as error:
        read_mask(path, (8, 6), classes=3)
    message = str(error.value)
    assert f"'{path}' declares 10,000,000,000 pixels" in message
    assert "data.max_pixels" in message and "Downscale it" in message


def test_a_header_past_max_pixels_is_refused_before_decoding(tmp_path, no_decoding):
    path = with_ihdr_size(save_gray(tmp_path / "big.png", index_mask()), 3000, 2000)
    with pytest.raises(DataError) as error:
        read_mask(path, (3000, 2000), classes=3, max_pixels=1_000_000)
    message = str(error.value)
    assert f"'{path}' is 3000 x 2000 = 6,000,000 pixels" in message
    assert "raise data.max_pixels" in message


def test_a_size_mismatch_is_refused_before_decoding(tmp_path, no_decoding):
    path = save_gray(tmp_path / "m.png", index_mask())
    with pytest.raises(DataError, match=r"is 8 x 6 pixels but its image is 9 x 6"):
        read_mask(path, (9, 6), classes=3)


# Resizing.


def test_resize_is_nearest_neighbour_and_keeps_ignore(tmp_path):
    rng = np.random.default_rng(0)
    mask = rng.choice(np.array([0, 1, 4, IGNORE], np.uint8), size=(17, 23))
    for size in [(7, 5), (50, 31), (23, 40)]:
        resized = resize_mask(mask, size)
        assert resized.shape == (size[1], size[0]) and resized.dtype == np.uint8
        assert set(np.unique(resized)) <= {0, 1, 4, IGNORE}
    doubled = resize_mask(mask, (46, 34))
    np.testing.assert_array_equal(doubled, mask.repeat(2, 0).repeat(2, 1))
    border = np.full((10, 10), IGNORE, np.uint8)
    border[2:8, 2:8] = 1
    assert set(np.unique(resize_mask(border, (15, 15)))) == {1, IGNORE}


def test_resize_refuses_what_is_not_a_mask():
    with pytest.raises(ValueError, match="2-D uint8"):
        resize_mask(np.zeros((4, 4), np.float32), (2, 2))


# Classes.


def test_classes_present_ignores_255():
    masks = [np.array([[0, 2], [IGNORE, 2]], np.uint8), np.array([[1, 1]], np.uint8)]
    np.testing.assert_array_equal(
        classes_present(masks, 3), [[True, False, True], [False, True, False]]
    )
    assert classes_present([], 3).shape == (0, 3)


def test_class_names_come_from_the_largest_index_without_classes_txt(tmp_path):
    masks = [index_mask(classes=2), np.array([[4, IGNORE]], np.uint8)]
    assert read_class_names(tmp_path, masks) == tuple(f"class_{i}" for i in range(5))


def test_masks_with_no_class_or_one_class_are_errors(tmp_path):
    with pytest.raises(DataError, match=r"No mask .* holds a class index: every pixel is 255"):
        read_class_names(tmp_path, [np.full((2, 2), IGNORE, np.uint8)])
    with pytest.raises(DataError, match=r"class 0 only: .*at least 2 classes.*classes\.txt"):
        read_class_names(tmp_path, [np.zeros((2, 2), np.uint8)])


def test_classes_txt_names_the_classes_by_line(tmp_path):
    (tmp_path / "classes.txt").write_bytes(b"background\r\n aeroplane \nbicycle\n\n")
    assert read_class_names(tmp_path, [np.zeros((1, 1), np.uint8)]) == (
        "background",
        "aeroplane",
        "bicycle",
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (b"background\n\ncat\n", r"line 2 is blank, which would leave class 1 without a name"),
        (b"background\ncat\ndog\ncat\n", r"lines 2 and 4 both name the class 'cat'.*Rename"),
        (b"background\nca\xfft\n", r"line 2 is not valid UTF-8\. Save the file as UTF-8"),
        (b"background\n", r"names 1 class\(es\); segmentation needs at least 2"),
        (b"", r"names 0 class\(es\).*List one class name per line"),
        (b"a\0b\n", r"holds NUL bytes.*List one class name per line"),
        ("".join(f"c{i}\n" for i in range(256)).encode(), r"256 classes, more than 255"),
    ],
)
def test_a_bad_classes_txt_is_an_error_naming_the_file_and_line(tmp_path, text, message):
    (tmp_path / "classes.txt").write_bytes(text)
    with pytest.raises(DataError, match=message) as error:
        read_class_names(tmp_path)
    assert str(tmp_path / "classes.txt") in str(error.value)


# Scanning a dataset.


def test_scan_finds_the_classes_each_mask_holds(tmp_path):
    root = dataset(tmp_path, classes=3)
    save_image(root / "images" / "d.jpg")
    save_palette(root / "masks" / "d.png", np.array([[0, 0, 5, 5, 5, 5, IGNORE, 0]] * 6, np.uint8))
    pairs, _ = pair_images_and_masks(root, skip_corrupt=False)
    scan = scan_masks(root, pairs, skip_corrupt=False)
    assert scan.class_names == tuple(f"class_{i}" for i in range(6))
    assert scan.present.shape == (4, 6)
    np.testing.assert_array_equal(scan.present[0], [True, True, True, False, False, False])
    np.testing.assert_array_equal(scan.present[3], [True, False, False, False, False, True])
    assert scan.notes == []


def broken_dataset(root: Path) -> Path:
    root = dataset(root, stems=("a", "b", "c", "d", "e"), classes=3)
    (root / "classes.txt").write_text("background\ncat\ndog\n")
    data = (root / "masks" / "b.png").read_bytes()
    (root / "masks" / "b.png").write_bytes(data[: len(data) // 2])
    save_gray(root / "masks" / "c.png", index_mask(width=9))
    wrong = index_mask()
    wrong[2, 2] = 3
    save_gray(root / "masks" / "d.png", wrong)
    (root / "images" / "e.jpg").write_bytes(b"not a jpeg")
    return root


def test_scan_refuses_unusable_pairs_naming_them(tmp_path):
    root = broken_dataset(tmp_path)
    pairs, _ = pair_images_and_masks(root, skip_corrupt=False)
    with pytest.raises(DataError) as error:
        scan_masks(root, pairs, skip_corrupt=False)
    message = str(error.value)
    assert "1 image file(s)" in message and "images/e.jpg' is not a readable image" in message
    assert "data.skip_corrupt: true" in message
    root.joinpath("images", "e.jpg").unlink()
    pairs, _ = pair_images_and_masks(root, skip_corrupt=True)
    with pytest.raises(DataError) as error:
        scan_masks(root, pairs, skip_corrupt=False)
    message = str(error.value)
    assert "3 mask file(s)" in message and "cannot be used as masks" in message
    for name in ("b.png' is not a readable PNG", "c.png' is 9 x 6", "d.png' holds the class"):
        assert name in message
    assert "data.skip_corrupt: true" in message


def test_scan_with_skip_corrupt_skips_and_notes_unusable_pairs(tmp_path, caplog):
    root = broken_dataset(tmp_path)
    pairs, _ = pair_images_and_masks(root, skip_corrupt=True)
    with caplog.at_level(logging.WARNING):
        scan = scan_masks(root, pairs, skip_corrupt=True)
    assert [pair.stem for pair in scan.pairs] == ["a"]
    assert scan.class_names == ("background", "cat", "dog")
    assert scan.present.tolist() == [[True, True, True]]
    assert len(scan.notes) == 2
    assert scan.notes[0].startswith("Skipped 1 unreadable image file(s): ")
    assert "e.jpg" in scan.notes[0]
    assert scan.notes[1].startswith("Skipped 3 unreadable mask file(s): ")
    assert all(f"{stem}.png" in scan.notes[1] for stem in "bcd")
    assert "b.png" in caplog.text


def test_scan_with_every_pair_skipped_is_an_error_giving_the_first_reason(tmp_path):
    root = dataset(tmp_path, stems=("a",))
    save_gray(root / "masks" / "a.png", index_mask(width=5))
    pairs, _ = pair_images_and_masks(root, skip_corrupt=True)
    with pytest.raises(DataError, match=r"skipped all 1\. The first: The mask .*a\.png' is 5 x 6"):
        scan_masks(root, pairs, skip_corrupt=True)


def test_the_module_imports_no_tensorflow():
    imported = set()
    for node in ast.walk(ast.parse(MODULE.read_text())):
        if isinstance(node, ast.Import):
            imported.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            imported.add(node.module)
    assert not {name for name in imported if name.split(".")[0] in ("tensorflow", "keras")}
