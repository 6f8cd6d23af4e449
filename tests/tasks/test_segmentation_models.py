"""The segmentation models: they learn textured shapes, survive safe-mode loading, and reach
LiteRT with builtin ops only, agreeing with Keras."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from tasklab.core.config import ConfigError
from tasklab.core.model_options import DeepLabOptions, UNetOptions
from tasklab.core.problems import SEGMENTATION
from tasklab.data.base import DataSpec
from tasklab.data.textured_shapes import CLASS_NAMES, SceneSpec, render_scene
from tasklab.edge.litert import LiteRTModel
from tasklab.export.convert import check_builtin_ops, convert, export_saved_model
from tasklab.tasks.segmentation_models import SEGMENTATION_MODELS, segmentation_size

SPEC = DataSpec(kind="segmentation", class_names=CLASS_NAMES, example_shape=(64, 64, 3))
SMALL = {"unet": UNetOptions(filters=8), "deeplab": DeepLabOptions(filters=32)}


def scenes(indices):
    images, masks = zip(*(render_scene(SceneSpec(), i) for i in indices), strict=True)
    return np.stack(images).astype(np.float32), np.stack(masks).astype(np.int64)


def build(name, options=None, spec=SPEC):
    keras.utils.set_random_seed(0)
    model = SEGMENTATION_MODELS.get(name).build(options or SMALL[name], spec)
    model.compile(
        keras.optimizers.Adam(3e-3),
        loss=keras.losses.get(dict(SEGMENTATION.loss)),
        metrics=[keras.metrics.get(dict(c)) for c in SEGMENTATION.keras_metrics(len(CLASS_NAMES))],
    )
    return model


@pytest.mark.parametrize("name", ["unet", "deeplab"])
def test_a_model_learns_scenes_and_reaches_litert_unchanged(name, tmp_path):
    images, masks = scenes(range(48))
    model = build(name)
    history = model.fit(images, masks, epochs=4, batch_size=8, verbose=0)
    losses = history.history["loss"]
    assert np.all(np.isfinite(losses)) and losses[-1] < losses[0], losses
    outputs = model.predict(images[:6], verbose=0)
    assert outputs.shape == (6, 64, 64, len(CLASS_NAMES)) and outputs.dtype == np.float32
    np.testing.assert_allclose(outputs.sum(axis=-1), 1.0, atol=1e-5)

    path = tmp_path / "model.keras"
    model.save(path)
    restored = keras.models.load_model(path, safe_mode=True)
    np.testing.assert_allclose(restored.predict(images[:6], verbose=0), outputs, atol=1e-5)

    content = convert(export_saved_model(model, tmp_path / "saved_model"), "float32")
    assert check_builtin_ops(content, "float32", allow_flex=False)
    device = LiteRTModel(content).predict(images[:6])
    np.testing.assert_allclose(device, outputs, atol=1e-4)
    assert SEGMENTATION.agreement(outputs, device) > 0.999


def test_the_unet_beats_the_majority_class_on_held_out_scenes():
    images, masks = scenes(range(160))
    model = build("unet", UNetOptions(filters=16))
    model.fit(images, masks, epochs=12, batch_size=16, verbose=0)
    test_images, test_masks = scenes(range(500, 540))
    outputs = model.predict(test_images, verbose=0)
    iou = SEGMENTATION.score("mean_iou", test_masks, outputs)
    majority = np.zeros_like(outputs)
    majority[..., 0] = 1.0
    assert iou > SEGMENTATION.score("mean_iou", test_masks, majority) + 0.1, iou


@pytest.mark.parametrize("name", ["unet", "deeplab"])
def test_grayscale_images_and_other_sizes(name):
    gray = DataSpec(kind="segmentation", class_names=CLASS_NAMES, example_shape=(50, 70, 1))
    model = build(name, spec=gray)
    multiple = SMALL[name].size_multiple
    assert multiple == (8 if name == "unet" else 32)
    assert model.input_shape[1:] == (*segmentation_size(SMALL[name], gray), 1)
    height, width = model.input_shape[1:3]
    assert height % multiple == 0 and width % multiple == 0 and height >= 50 and width >= 70
    assert model.output_shape[1:] == (height, width, len(CLASS_NAMES))


def test_deeplab_refuses_images_with_alpha_naming_the_fix():
    rgba = DataSpec(kind="segmentation", class_names=CLASS_NAMES, example_shape=(64, 64, 4))
    with pytest.raises(ConfigError, match=r"model\.name: unet"):
        SEGMENTATION_MODELS.get("deeplab").build(DeepLabOptions(), rgba)
    assert SEGMENTATION_MODELS.get("unet").build(UNetOptions(filters=4), rgba).input_shape[-1] == 4


def test_the_input_size_rounds_up_to_the_models_downsampling():
    assert segmentation_size(UNetOptions(depth=3), SPEC) == (64, 64)
    assert segmentation_size(UNetOptions(image_size=(50, 70)), SPEC) == (56, 72)
    assert segmentation_size(DeepLabOptions(image_size=(20, 20)), SPEC) == (32, 32)
