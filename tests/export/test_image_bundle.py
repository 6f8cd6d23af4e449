"""Image runs end to end: what the runner feeds the exported model is what training fed Keras.

Two small folder runs: RGBA icons whose classes differ only in alpha (the RGB
is one flat color), and dark 16-bit grayscale PNGs. Then files of every kind
(16-bit PNG, BMP, GIF, RGBA) go through the training pipeline into the Keras
model and through the edge runner into the exported LiteRT model.
"""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from tasklab.core.config import parse_config
from tasklab.data import load_dataset
from tasklab.data.images import decode_image_file
from tasklab.edge.run import EdgeBundle
from tasklab.pipelines.run import run
from tasklab.tasks import get_task
from tests.conftest import class_pattern, write_image
from tests.image_files import GRAY, RGB, RGBA, alpha_icon, write_png

TOLERANCE = 1e-4  # Pixels are 0..255 floats; a decoder difference is at least 1/257.


def train(root: Path, runs_dir: Path, name: str):
    """A full run (training, evaluation, float32 export) kept to about half a minute."""
    config = parse_config(
        {
            "name": name,
            "task": "image_classification",
            "seed": 0,
            "data": {"uri": f"folder:{root}", "val_fraction": 0.15, "test_fraction": 0.25},
            "model": {"name": "small_cnn", "filters": 8, "augment": False, "dropout": 0.0},
            "train": {
                "epochs": 8,
                "batch_size": 8,
                "learning_rate": 0.01,
                "schedule": "constant",
                "patience": None,
            },
            "strategy": {"name": "cpu"},
            "baselines": [],
            "explain": {"methods": []},
            "export": {"variants": ["float32"], "latency_runs": 5},
        }
    )
    return config, run(config, runs_dir=runs_dir)


class Trained:
    """A finished run: its Keras model, task and exported float32 bundle."""

    def __init__(self, config, result):
        self.metrics = result.metrics
        task_cls = get_task(config.task)
        self.dataset = load_dataset(config.data, config.seed, task_cls.problem, task_cls.data_kind)
        self.task = task_cls(config.model, self.dataset.spec)
        self.model = keras.saving.load_model(result.run_dir / "model.keras", safe_mode=True)
        self.bundle = EdgeBundle(result.run_dir / "export", "float32")

    def pipeline_inputs(self, paths: list[Path]) -> np.ndarray:
        """What training feeds the model: the folder's decoding, then the task's preprocessing."""
        channels, schema = self.dataset.spec.example_shape[-1], self.dataset.spec.schema
        decoded = tf.data.Dataset.from_tensor_slices([str(p) for p in paths]).map(
            lambda p: self.task.preprocess(decode_image_file(p, channels, schema), 0)[0]
        )
        return np.stack(list(decoded.as_numpy_iterator()))

    def runner_inputs(self, paths: list[Path]) -> np.ndarray:
        return np.stack([x for path in paths for _, x in self.bundle.inputs_from(path)])

    def check_agreement(self, paths: list[Path]) -> np.ndarray:
        """Asserts equal model inputs and equal predictions; returns the Keras probabilities."""
        expected_inputs = self.pipeline_inputs(paths)
        inputs = self.runner_inputs(paths)
        np.testing.assert_allclose(inputs, expected_inputs, rtol=0, atol=TOLERANCE)
        keras_probabilities = self.model.predict(expected_inputs, verbose=0)
        litert_probabilities = self.bundle.model.predict(inputs)
        np.testing.assert_allclose(litert_probabilities, keras_probabilities, atol=1e-4)
        labels = [p["index"] for p in self.bundle.predict(inputs)]
        assert labels == keras_probabilities.argmax(axis=1).tolist()
        return keras_probabilities


@pytest.fixture(scope="module")
def icons(tmp_path_factory):
    root = tmp_path_factory.mktemp("icons")
    rng = np.random.default_rng(0)
    for label, name in enumerate(["disk", "frame", "plus"]):
        for i in range(24):
            write_image(root / name / f"{i:02d}.png", alpha_icon(label, 16, rng))
    config, result = train(root, tmp_path_factory.mktemp("runs"), "icons")
    return root, Trained(config, result)


def test_icons_whose_classes_differ_only_in_alpha_are_learned(icons):
    root, trained = icons
    files = sorted(root.rglob("*.png"))
    # Without alpha every icon is the same flat image: a model could only guess the majority.
    flat = {tf.io.decode_png(tf.io.read_file(str(f)), channels=3).numpy().tobytes() for f in files}
    assert len(flat) == 1
    assert trained.dataset.spec.example_shape == (16, 16, 3)
    assert any("72 of 72 images have transparency" in note for note in trained.dataset.notes)
    assert trained.metrics.test["accuracy"] >= 0.8  # The majority class is 1/3.
    spec = trained.bundle.spec["input"]
    assert spec["alpha"] == "composite" and spec["background"] == [255.0, 255.0, 255.0]
    assert spec["luma_weights"] == [0.299, 0.587, 0.114] and spec["sixteen_bit_divisor"] == 257.0
    probabilities = trained.check_agreement(files)
    labels = np.repeat(np.arange(3), 24)
    assert (probabilities.argmax(axis=1) == labels).mean() >= 0.8


def test_sixteen_bit_bmp_and_gif_copies_of_the_icons_agree(icons, tmp_path):
    root, trained = icons
    rng = np.random.default_rng(1)
    paths = []
    for source in sorted(root.rglob("*.png"))[::8]:
        icon = Image.open(source)
        name = source.parent.name + source.stem
        # 16-bit samples with low bytes of their own: Pillow alone would drop them.
        samples = np.asarray(icon).astype(np.int64) * 257 + rng.integers(-128, 128, (16, 16, 4))
        paths.append(write_png(tmp_path / f"{name}_16.png", samples.clip(0, 65535), 16, RGBA))
        white = Image.new("RGBA", icon.size, "white")
        over_white = np.asarray(Image.alpha_composite(white, icon.convert("RGBA")))[..., :3]
        rgb16 = over_white.astype(np.int64) * 256 + 90
        paths.append(write_png(tmp_path / f"{name}_rgb16.png", rgb16, 16, RGB))
        paths.append(write_image(tmp_path / f"{name}.bmp", over_white))
        paths.append(write_image(tmp_path / f"{name}.gif", over_white))
    trained.check_agreement(paths)


@pytest.fixture(scope="module")
def dark_gray(tmp_path_factory):
    """16-bit gray PNGs with every sample above 255: Pillow's convert("L") makes them white."""
    root = tmp_path_factory.mktemp("dark")
    rng = np.random.default_rng(0)
    for label, name in enumerate(["rows", "columns"]):
        for i in range(24):
            band = class_pattern(1, 12, rng)[..., 0].astype(np.int64)  # A bright band of rows.
            pattern = band.T if label else band
            write_png(root / name / f"{i:02d}.png", 300 + pattern * 60, 16, GRAY)
    config, result = train(root, tmp_path_factory.mktemp("runs"), "dark")
    return root, Trained(config, result)


def test_sixteen_bit_gray_predictions_agree_where_a_saturating_decoder_flips_them(dark_gray):
    root, trained = dark_gray
    files = sorted(root.rglob("*.png"))
    assert trained.dataset.spec.example_shape == (12, 12, 1)
    assert any("48 image(s) are 16-bit PNGs" in note for note in trained.dataset.notes)
    probabilities = trained.check_agreement(files)
    assert trained.metrics.test["accuracy"] >= 0.8
    # The runner before: Pillow's convert("L") clips every sample to 255, one white image.
    saturated = np.stack([np.asarray(Image.open(f).convert("L")) for f in files])[..., None]
    assert (saturated == 255).all()
    saturated_labels = trained.bundle.model.predict(saturated.astype(np.float32)).argmax(axis=1)
    assert (saturated_labels == probabilities.argmax(axis=1)).mean() <= 0.6
