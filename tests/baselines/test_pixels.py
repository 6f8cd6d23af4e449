"""The pixel baselines: the filter bank against scipy, and per-pixel classifiers on scenes."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage
from sklearn.dummy import DummyClassifier

from tasklab.baselines.models import BASELINES, fit_baseline
from tasklab.baselines.pixels import PixelClassifier, filter_bank, structure_tensor_eigenvalues
from tasklab.core.problems import CLASSIFICATION, SEGMENTATION
from tasklab.core.segmentation_metrics import IGNORE
from tasklab.data.textured_shapes import CLASS_NAMES, SceneSpec, render_scene


def scenes(indices):
    spec = SceneSpec()
    images, masks = zip(*(render_scene(spec, i) for i in indices), strict=True)
    return np.stack(images), np.stack(masks)


def test_the_bank_holds_each_filter_of_each_channel_named():
    images = np.random.default_rng(0).uniform(0, 255, (2, 16, 12, 3))
    features, names = filter_bank(images, sigmas=(1.0, 2.0))
    # Per channel: colour + 3 filters x 2 scales; structure: 2 eigenvalues x 2 scales; position.
    assert features.shape == (2, 16, 12, 3 * 7 + 4 + 2) and len(names) == features.shape[-1]
    smooth = ndimage.gaussian_filter(images[1, ..., 2].astype(np.float32), 2.0)
    np.testing.assert_allclose(features[1, ..., names.index("gaussian 2 c2")], smooth, rtol=1e-5)
    np.testing.assert_allclose(
        features[0, ..., names.index("position row")][:, 0], np.linspace(0, 1, 16)
    )
    # Images are filtered one by one: the second image does not leak into the first.
    alone, _ = filter_bank(images[:1], sigmas=(1.0, 2.0))
    np.testing.assert_allclose(alone[0], features[0], rtol=1e-5, atol=1e-4)


def test_structure_tensor_eigenvalues_see_edges_and_flat_regions():
    step = np.zeros((1, 20, 20))
    step[:, :, 10:] = 100.0  # A vertical edge.
    larger, smaller = structure_tensor_eigenvalues(step, 1.0)
    assert larger[0, 10, 10] > 100 * max(smaller[0, 10, 10], 1e-6)  # One strong direction.
    assert larger[0, 10, 1] < 1e-3 * larger[0, 10, 10]  # Flat far from the edge.
    assert np.all(larger >= smaller - 1e-6)


def test_pixel_xgboost_segments_scenes_better_than_the_majority_class():
    images, masks = scenes(range(24))
    val = scenes(range(24, 30))
    test_images, test_masks = scenes(range(500, 512))
    masks = masks.copy()
    masks[:, 0, :] = IGNORE  # An unlabelled row: never a training target.
    scores, found = {}, {}
    for name in ("xgboost", "dummy"):
        model = fit_baseline(name, SEGMENTATION, 0, (images, masks), val)
        outputs = SEGMENTATION.estimator_outputs(model, test_images)
        assert outputs.shape == (*test_masks.shape, len(CLASS_NAMES))
        np.testing.assert_allclose(outputs.sum(axis=-1), 1.0, atol=1e-4)
        scores[name] = SEGMENTATION.score("mean_iou", test_masks, outputs)
        objects, truth = outputs[..., 0] < 0.5, test_masks > 0  # Any object class, together.
        found[name] = (objects & truth).sum() / (objects | truth).sum()
    assert scores["dummy"] < 0.25  # The background alone: about 0.84 / 4 classes.
    assert scores["xgboost"] > scores["dummy"] + 0.03, scores
    # Texture finds objects; which shape each is, pixel features hardly tell (the net's job).
    assert found["xgboost"] > 0.3 and found["dummy"] == 0, found
    assert model.filter_importances() == {}  # The dummy has none.


def test_filter_importances_sum_to_one_and_name_the_filters():
    images, masks = scenes(range(8))
    model = fit_baseline("xgboost", SEGMENTATION, 0, (images, masks), scenes(range(8, 10)))
    importances = model.filter_importances()
    assert sum(importances.values()) == pytest.approx(1.0)
    assert "structure 1.6 e1" in importances and "colour c0" in importances


def test_only_pixel_baselines_fit_segmentation():
    fitting = [name for name in BASELINES.names() if BASELINES.get(name).fits(SEGMENTATION)]
    assert fitting == ["dummy", "xgboost"]
    assert not isinstance(BASELINES.get("xgboost").make(CLASSIFICATION, 0), PixelClassifier)


def test_a_class_the_training_pixels_lack_gets_probability_zero():
    images, masks = scenes(range(4))
    masks = np.where(masks == 3, 0, masks)  # No triangle in training...
    masks[0, 0, 0] = 3  # ...but the class count says four: one labelled pixel, sampled away.
    model = PixelClassifier(
        lambda: DummyClassifier(strategy="prior"), max_pixels=100, random_state=0
    ).fit(images, masks)
    outputs = model.predict_proba(images[:1])
    assert outputs.shape[-1] == 4
