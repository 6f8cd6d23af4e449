"""A segmentation bundle's outputs on the device: masks read from probabilities, and their files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tasklab.edge.bundle_spec import check_matches_model
from tasklab.edge.edge_inputs import EdgeInputError
from tasklab.edge.mask_files import unique_stems, write_mask_files
from tasklab.edge.outputs import class_palette, read_pixel_probabilities

NAMES = ("background", "disc", "box")


def probabilities_for(mask: np.ndarray, classes: int = 3) -> np.ndarray:
    """Per-pixel probabilities whose most probable class is `mask`."""
    out = np.full((*mask.shape, classes), 0.1, dtype=np.float32)
    np.put_along_axis(out, mask[..., None], 0.8, axis=-1)
    return out


def test_pixel_probabilities_read_as_a_mask_and_the_classes_present():
    mask = np.zeros((4, 4), dtype=np.uint8)
    mask[:2, :2] = 1  # 4 pixels of disc
    mask[3, 3] = 2  # 1 pixel of box
    [prediction] = read_pixel_probabilities(probabilities_for(mask)[None], NAMES)
    np.testing.assert_array_equal(prediction["mask"], mask)
    assert prediction["classes"] == {"background": 11 / 16, "disc": 4 / 16, "box": 1 / 16}
    assert list(prediction["classes"]) == ["background", "disc", "box"]  # Largest first.
    assert prediction["label"] == "disc" and prediction["score"] == pytest.approx(0.8)


def test_an_all_background_prediction_is_labelled_background():
    [prediction] = read_pixel_probabilities(probabilities_for(np.zeros((3, 3), int))[None], NAMES)
    assert prediction["label"] == "background" and prediction["classes"] == {"background": 1.0}


def test_the_palette_is_fixed_black_first_and_long_enough_for_many_classes():
    palette = class_palette(40)
    assert palette.shape == (40, 3) and palette.dtype == np.uint8
    assert palette[0].tolist() == [0, 0, 0]
    np.testing.assert_array_equal(palette, class_palette(40))  # The same on every call.
    assert len({tuple(colour) for colour in palette[:12]}) == 12


def test_mask_files_hold_class_indices_at_the_images_own_size(tmp_path):
    source = tmp_path / "scene.png"
    Image.fromarray(np.full((10, 20, 3), 200, dtype=np.uint8)).save(source)
    mask = np.zeros((4, 8), dtype=np.uint8)  # The model's size: a quarter in each axis...
    mask[:, 4:] = 2
    mask_path, overlay_path = write_mask_files(source, mask, 3, tmp_path / "out", "scene")
    assert (mask_path.name, overlay_path.name) == ("scene.mask.png", "scene.overlay.png")
    with Image.open(mask_path) as written:
        assert written.mode == "P" and written.size == (20, 10)  # ...written at the image's.
        indices = np.asarray(written)
        palette = np.asarray(written.getpalette()[:9]).reshape(3, 3)
    assert set(np.unique(indices)) == {0, 2}  # Nearest neighbour: no blended class.
    assert (indices[:, :10] == 0).all() and (indices[:, 10:] == 2).all()
    np.testing.assert_array_equal(palette, class_palette(3))
    with Image.open(overlay_path) as overlay:
        pixels = np.asarray(overlay)
    assert overlay.mode == "RGB" and pixels.shape == (10, 20, 3)
    np.testing.assert_array_equal(pixels[:, :10], 200)  # Background left as it was.
    expected = np.rint(0.5 * 200 + 0.5 * class_palette(3)[2]).astype(np.uint8)
    np.testing.assert_array_equal(pixels[0, 15], expected)
    assert not list((tmp_path / "out").glob(".*"))  # No temporary file left behind.


def test_inputs_that_share_a_name_get_distinct_files():
    paths = [Path("x/a.png"), Path("y/a.png"), Path("b.jpg")]
    assert unique_stems(paths) == ["a", "a-2", "b"]


def test_a_bundle_whose_classes_do_not_match_the_models_pixel_scores_is_refused():
    spec = {
        "input": {"kind": "image", "height": 8, "width": 8, "channels": 3},
        "output": {"kind": "pixel_probabilities"},
        "class_names": list(NAMES),
    }
    check_matches_model(spec, (8, 8, 3), (8, 8, 3), "preprocessing.json")
    with pytest.raises(EdgeInputError, match="names 3 classes, but the model outputs 4 scores"):
        check_matches_model(spec, (8, 8, 3), (8, 8, 4), "preprocessing.json")
