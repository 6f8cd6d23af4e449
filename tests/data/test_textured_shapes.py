"""The textured-shapes scenes: deterministic, every class present, and not solvable by colour."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage
from sklearn.ensemble import HistGradientBoostingClassifier

from tasklab.data.textured_shapes import CLASS_NAMES, SceneSpec, cached_scenes, render_scene

SPEC = SceneSpec(scenes=12)


def test_a_scene_depends_on_its_index_and_seed_only():
    image, mask = render_scene(SPEC, 3)
    again, same = render_scene(SceneSpec(scenes=600), 3)
    np.testing.assert_array_equal(image, again)
    np.testing.assert_array_equal(mask, same)
    other, _ = render_scene(SceneSpec(scenes=12, seed=1), 3)
    assert not np.array_equal(image, other)
    assert image.shape == (64, 64, 3) and image.dtype == np.uint8
    assert mask.shape == (64, 64) and mask.dtype == np.uint8


def test_every_class_is_common_and_every_scene_holds_an_object():
    masks = np.stack([render_scene(SceneSpec(), i)[1] for i in range(100)])
    shares = np.bincount(masks.ravel(), minlength=len(CLASS_NAMES)) / masks.size
    assert len(shares) == len(CLASS_NAMES) and 0.6 < shares[0] < 0.95
    assert all(share > 0.02 for share in shares[1:]), shares
    assert all((mask > 0).any() for mask in masks)
    # Several classes share most scenes: a scene is no single-object picture.
    assert np.mean([len(np.unique(mask)) >= 3 for mask in masks]) > 0.4


def pixel_features(images, local):
    features = [images.astype(np.float64)]
    if local:  # Texture: local variance and gradient energy of the gray level, 5x5.
        gray = features[0].mean(axis=-1)
        mean = ndimage.uniform_filter(gray, (0, 5, 5))
        variance = ndimage.uniform_filter(gray**2, (0, 5, 5)) - mean**2
        gradient = ndimage.gaussian_gradient_magnitude(gray, (0, 1, 1))
        features += [variance[..., None], ndimage.uniform_filter(gradient, (0, 5, 5))[..., None]]
    return np.concatenate(features, axis=-1)


def foreground_iou(local):
    """Object-vs-background IoU of a per-pixel boosted-tree classifier on held-out scenes."""
    spec = SceneSpec()
    train = [render_scene(spec, i) for i in range(30)]
    test = [render_scene(spec, i) for i in range(500, 515)]
    images, masks = (np.stack(parts) for parts in zip(*train, strict=True))
    test_images, test_masks = (np.stack(parts) for parts in zip(*test, strict=True))
    x = pixel_features(images, local)
    classifier = HistGradientBoostingClassifier(max_iter=50, random_state=0)
    classifier.fit(x.reshape(-1, x.shape[-1]), (masks > 0).ravel())
    x_test = pixel_features(test_images, local)
    predicted = classifier.predict(x_test.reshape(-1, x_test.shape[-1])).reshape(test_masks.shape)
    truth = test_masks > 0
    return np.logical_and(predicted, truth).sum() / np.logical_or(predicted, truth).sum()


def test_colour_alone_does_not_find_the_objects_but_texture_helps():
    by_colour, with_texture = foreground_iou(local=False), foreground_iou(local=True)
    assert by_colour < 0.3, by_colour  # Objects share their colours with the clutter.
    assert with_texture > by_colour + 0.1, (by_colour, with_texture)


def test_scenes_are_cached_as_a_segmentation_folder(tmp_path):
    folder, generated = cached_scenes(SPEC, tmp_path)
    assert generated and folder.parent == tmp_path
    images = sorted((folder / "images").iterdir())
    masks = sorted((folder / "masks").iterdir())
    assert len(images) == len(masks) == 12
    assert [p.stem for p in images] == [p.stem for p in masks]
    classes = (folder / "classes.txt").read_text(encoding="utf-8").split()
    assert tuple(classes) == CLASS_NAMES
    image, mask = render_scene(SPEC, 5)
    np.testing.assert_array_equal(np.asarray(Image.open(images[5])), image)
    np.testing.assert_array_equal(np.asarray(Image.open(masks[5])), mask)
    again, generated = cached_scenes(SPEC, tmp_path)
    assert again == folder and not generated
    assert [p.name for p in tmp_path.iterdir()] == [folder.name]  # No staging left behind.


@pytest.mark.parametrize("change", [{"size": 32}, {"seed": 3}, {"max_objects": 2}])
def test_every_parameter_is_in_the_cache_key(change):
    assert SceneSpec(**change).cache_key() != SceneSpec().cache_key()
