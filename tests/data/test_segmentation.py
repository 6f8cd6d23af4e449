"""Segmentation folders end to end: images and masks in, stratified in-memory splits out."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from tasklab.core.config import DataConfig
from tasklab.core.problems import SEGMENTATION
from tasklab.core.segmentation_metrics import IGNORE
from tasklab.data.base import DataError
from tasklab.data.segmentation import load_segmentation_folder, stratified_parts
from tasklab.data.textured_shapes import CLASS_NAMES, SceneSpec, render_scene, write_scenes


def load(folder, **settings):
    config = DataConfig(uri=f"folder:{folder}", **settings)
    return load_segmentation_folder(config.uri, str(folder), config, 0, SEGMENTATION)


@pytest.fixture(scope="module")
def scenes_folder(tmp_path_factory):
    return write_scenes(SceneSpec(scenes=40), tmp_path_factory.mktemp("data") / "scenes")


def test_a_folder_of_scenes_loads_as_its_files_hold(scenes_folder):
    dataset = load(scenes_folder)
    assert dataset.spec.kind == "segmentation" and dataset.spec.class_names == CLASS_NAMES
    assert dataset.spec.example_shape == (64, 64, 3)
    sizes = dataset.split_sizes()
    assert sum(sizes.values()) == 40 and min(sizes.values()) >= 4
    rows = np.concatenate([dataset.train.labels, dataset.val.labels, dataset.test.labels])
    assert rows.shape == (40, 64, 64)
    # The test split's first image is one of the scenes, pixel for pixel.
    images, masks = next(iter(dataset.test.make_dataset().batch(64)))
    scene = next(
        i for i in range(40) if np.array_equal(render_scene(SceneSpec(), i)[1], masks[0].numpy())
    )
    np.testing.assert_array_equal(images[0].numpy(), render_scene(SceneSpec(), scene)[0])


def test_every_split_holds_the_rarest_class(scenes_folder):
    dataset = load(scenes_folder)
    for split in (dataset.train, dataset.val, dataset.test):
        held = {int(c) for c in np.unique(split.labels)}
        assert held == {0, 1, 2, 3}, held


def voc_pair(root, stem, size, mask_values, palette=True):
    """A VOC-style pair: an RGB JPEG and a palette PNG with a 255 border."""
    (root / "images").mkdir(parents=True, exist_ok=True)
    (root / "masks").mkdir(exist_ok=True)
    width, height = size
    rng = np.random.default_rng(len(stem))
    Image.fromarray(rng.integers(0, 255, (height, width, 3), dtype=np.uint8)).save(
        root / "images" / f"{stem}.jpg"
    )
    mask = np.full((height, width), mask_values[0], dtype=np.uint8)
    mask[height // 3 :, width // 3 :] = mask_values[1]
    mask[height // 3, :] = IGNORE
    image = Image.fromarray(mask, mode="L")
    if palette:
        image = image.convert("P")
        image.putpalette([v for c in range(256) for v in (c, 255 - c, c // 2)])
    image.save(root / "masks" / f"{stem}.png")


def test_palette_masks_of_several_sizes_keep_their_indices_and_ignore_label(tmp_path):
    for index in range(12):
        size = (40, 30) if index < 9 else (60, 45)
        voc_pair(tmp_path, f"{index:03d}", size, (0, 1 + index % 2))
    dataset = load(tmp_path)
    assert dataset.spec.example_shape == (30, 40, 3)
    assert dataset.spec.class_names == ("class_0", "class_1", "class_2")
    labels = np.concatenate([dataset.train.labels, dataset.val.labels, dataset.test.labels])
    assert set(np.unique(labels).tolist()) == {0, 1, 2, IGNORE}  # Nothing interpolated.
    assert any("Resized 3 of 12 image(s) and their masks" in note for note in dataset.notes)


def test_an_image_without_a_mask_is_named_or_skipped(tmp_path):
    for index in range(12):
        voc_pair(tmp_path, f"{index:03d}", (20, 20), (0, 1))
    (tmp_path / "masks" / "005.png").unlink()
    with pytest.raises(DataError, match=r"005\.jpg") as raised:
        load(tmp_path)
    assert "masks/005.png" in str(raised.value) and "skip_corrupt" in str(raised.value)
    dataset = load(tmp_path, skip_corrupt=True)
    assert sum(dataset.split_sizes().values()) == 11
    assert any("005.jpg" in note for note in dataset.notes)


def test_an_index_outside_the_classes_is_named(tmp_path):
    for index in range(12):
        voc_pair(tmp_path, f"{index:03d}", (20, 20), (0, 1), palette=False)
    (tmp_path / "classes.txt").write_text("background\nthing\n", encoding="utf-8")
    Image.fromarray(np.full((20, 20), 7, dtype=np.uint8)).save(tmp_path / "masks" / "003.png")
    with pytest.raises(DataError, match=r"003\.png.*7") as raised:
        load(tmp_path)
    assert "classes.txt" in str(raised.value)


def test_an_image_tensorflow_cannot_decode_is_named_or_skipped(tmp_path):
    for index in range(12):
        voc_pair(tmp_path, f"{index:03d}", (20, 20), (0, 1))
    jpeg = (tmp_path / "images" / "004.jpg").read_bytes()
    (tmp_path / "images" / "004.jpg").write_bytes(jpeg[: len(jpeg) // 3])  # Truncated.
    with pytest.raises(DataError, match=r"004\.jpg") as raised:
        load(tmp_path)
    assert "skip_corrupt" in str(raised.value)
    assert sum(load(tmp_path, skip_corrupt=True).split_sizes().values()) == 11


def test_too_few_images_to_split_is_one_clear_error(tmp_path):
    for index in range(4):
        voc_pair(tmp_path, f"{index:03d}", (20, 20), (0, 1))
    with pytest.raises(DataError, match="at least 6 image"):
        load(tmp_path)


def test_small_strata_are_pooled_so_every_image_can_be_split():
    strata = np.array([0] * 20 + [3] * 2 + [2] * 8)  # Class 3: two images only.
    train, val, test = stratified_parts(strata, (0.2, 0.2), 0, ("a", "b", "c", "d"))
    assert sorted(np.concatenate([train, val, test]).tolist()) == list(range(30))
    assert all(np.isin([22, 23, 24, 25, 26, 27, 28, 29], part).any() for part in (train, val, test))


def test_a_segmentation_folder_loads_through_load_dataset_for_a_segmentation_task(scenes_folder):
    from tasklab.data import load_dataset

    config = DataConfig(uri=f"folder:{scenes_folder}")
    dataset = load_dataset(config, 0, SEGMENTATION, "segmentation")
    assert dataset.spec.kind == "segmentation" and len(dataset.test.labels.shape) == 3


def test_the_builtin_scenes_are_drawn_once_then_read_from_the_cache(tmp_path, caplog):
    import logging

    from tasklab.core.config import parse_config
    from tasklab.data import load_dataset

    def data(scenes):
        settings = {"scenes": scenes, "size": 32, "cache_dir": str(tmp_path / "cache")}
        source = {"uri": "builtin:textured_shapes", "scenes": settings}
        return parse_config({"name": "s", "task": "semantic_segmentation", "data": source}).data

    with caplog.at_level(logging.INFO, logger="tasklab.data.textured_shapes"):
        first = load_dataset(data(24), 0, SEGMENTATION, "segmentation")
    assert "Drawing 24 textured-shape scenes" in caplog.text
    assert first.spec.example_shape == (32, 32, 3) and sum(first.split_sizes().values()) == 24
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="tasklab.data.textured_shapes"):
        again = load_dataset(data(24), 0, SEGMENTATION, "segmentation")
    assert "Drawing" not in caplog.text and again.fingerprint == first.fingerprint
    # Another count is other scenes in the cache, its first ones the same.
    assert load_dataset(data(30), 0, SEGMENTATION, "segmentation").fingerprint != first.fingerprint


def test_builtin_scenes_refuse_a_classification_task():
    from tasklab.core.config import ConfigError, DataConfig
    from tasklab.data import load_dataset

    with pytest.raises(ConfigError, match="segmentation dataset, but the task does classification"):
        load_dataset(DataConfig(uri="builtin:textured_shapes"), 0, "classification", "image")
