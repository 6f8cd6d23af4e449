"""Hostile image folders on the training side: refused before anything is decoded.

The edge runner's side of the same inputs is in `test_bundles.py`.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from tasklab.core.config import DataConfig
from tasklab.data import load_dataset
from tests.conftest import class_pattern, write_image
from tests.hostile.harness import (
    TASKLAB,
    TENSORFLOW_ADDRESS_SPACE,
    assert_refused,
    capped,
    cli,
    quick_config,
)
from tests.image_files import write_png_bomb


def image_folder(root: Path, per_class: int = 6) -> Path:
    rng = np.random.default_rng(0)
    for label, name in enumerate(["circle", "square"]):
        for index in range(per_class):
            write_image(root / name / f"{index}.png", class_pattern(label, 16, rng))
    return root


def folder_config(tmp_path: Path, root: Path, *extra: str) -> Path:
    data_yaml = f"uri: 'folder:{root}', val_fraction: 0.25, test_fraction: 0.25{''.join(extra)}"
    return quick_config(tmp_path, "images", "image_classification", data_yaml)


def test_a_decompression_bomb_in_a_class_folder_is_refused_undecoded(tmp_path):
    root = image_folder(tmp_path / "images")
    write_png_bomb(root / "circle" / "bomb.png", 20_000)  # 388 KB; 400 megapixels.
    outcome = capped(
        [*TASKLAB, "run", str(folder_config(tmp_path, root)), "--runs-dir", str(tmp_path / "r")],
        tmp_path,
        address_space=TENSORFLOW_ADDRESS_SPACE,
    )
    assert_refused(outcome, "bomb.png", "400,000,000 pixels", "data.max_pixels", "skip_corrupt")
    assert not (tmp_path / "r").exists() or not any((tmp_path / "r").rglob("model.keras"))


def test_a_lower_max_pixels_refuses_ordinary_images(tmp_path, capfd):
    root = image_folder(tmp_path / "images")
    config = folder_config(tmp_path, root, ", max_pixels: 100")
    outcome = cli(capfd, "run", str(config), "--runs-dir", str(tmp_path / "runs"))
    assert_refused(outcome, "12 image file(s)", "16 x 16 = 256 pixels", "max_pixels")


@pytest.mark.parametrize(
    ("damage", "words"),
    [
        (lambda root: (root / "triangle").mkdir(), ("triangle",)),
        (lambda root: (root / "circle" / "0.png").write_bytes(b"\x89PNG junk"), ("0.png",)),
        (lambda root: (root / "circle" / "0.png").write_bytes(b""), ("0.png",)),
        (lambda root: (root / "circle" / "1.png").write_text("hello"), ("1.png",)),
    ],
    ids=["empty_class", "corrupt_png", "empty_file", "text_named_png"],
)
def test_a_damaged_image_folder_is_one_error_line(damage, words, tmp_path, capfd, earlier_run):
    """Found by the scan before training, named, with the fix."""
    root = image_folder(tmp_path / "images")
    damage(root)
    config = folder_config(tmp_path, root)
    outcome = cli(capfd, "run", str(config), "--runs-dir", str(earlier_run.parent))
    assert_refused(outcome, *words)


def test_a_class_folder_linking_to_the_dataset_folder_is_refused(tmp_path, capfd):
    root = image_folder(tmp_path / "images")
    (root / "everything").symlink_to(root, target_is_directory=True)
    config = folder_config(tmp_path, root)
    outcome = cli(capfd, "run", str(config), "--runs-dir", str(tmp_path / "runs"))
    assert_refused(outcome, "everything", "links to", "Remove the link")


def test_byte_identical_images_are_kept_out_of_two_splits(tmp_path):
    root = image_folder(tmp_path / "images", per_class=8)
    for index in range(3):  # The same picture three times in one class...
        shutil.copy(root / "circle" / "0.png", root / "circle" / f"copy{index}.png")
    shutil.copy(root / "square" / "1.png", root / "circle" / "mislabeled.png")  # ...and across.
    dataset = load_dataset(
        DataConfig(uri=f"folder:{root}", val_fraction=0.25, test_fraction=0.25), seed=0
    )
    assert any("Kept one file of each of 1 set(s)" in note for note in dataset.notes)
    assert any("Left out 1 set(s)" in note and "mislabeled.png" in note for note in dataset.notes)
    # 16 files + 4 copies, less the 3 extra copies and both files of the contradicting pair.
    sizes = [len(split.labels) for split in (dataset.train, dataset.val, dataset.test)]
    assert sum(sizes) == 15
