"""`tfds:oxford_iiit_pet` for semantic segmentation: mocked examples, and tfds's real path.

`tfds.testing.mock_data` draws random pixels for every feature, masks too
(values 0..254), so the mocked tests supply their own examples (its
`as_dataset_fn`): trimaps of 1 (pet), 2 (background) and 3 (border), in two
image sizes. The last tests prepare the real `oxford_iiit_pet` builder on disk
from small archives the test writes, so tfds decodes, encodes, shards and
records the splits itself; only the download is replaced (by the archives, in
the manual dir, with their own checksums). Nothing reaches the network.
"""

from __future__ import annotations

import io
import os
import tarfile

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds
from PIL import Image

from tasklab.core.config import ConfigError, DataConfig, ImageConfig, parse_config
from tasklab.core.problems import SEGMENTATION
from tasklab.core.segmentation_metrics import IGNORE
from tasklab.data import DataError, load_dataset
from tests.data.test_tfds import write_split_metadata
from tests.data.test_tfds_prepared import PROXY_VARIABLES, closed_port

NAME = "oxford_iiit_pet"
SIZE = (32, 48)  # data.image.size in these tests; the even examples are read at it as they are.
OTHER = (45, 61)  # The odd examples' size: resized as read.
TRIMAP = {1: 1, 2: 0, 3: IGNORE}  # Raw trimap value -> class index.


def pet_example(index: int, split: str) -> dict[str, np.ndarray | str]:
    """One pet: random pixels, a trimap with a pet rectangle ringed by a 3-pixel border.

    Every fifth example shows no pet (background only), so the images fall into
    two strata (`Problem.strata`: the rarest class an image holds).
    """
    height, width = SIZE if index % 2 == 0 else OTHER
    rng = np.random.default_rng([index, len(split)])
    image = rng.integers(0, 256, size=(height, width, 3), dtype=np.uint8)
    mask = np.full((height, width, 1), 2, dtype=np.uint8)
    if index % 5 != 4:
        top, left = height // 4, width // 4
        mask[top : height - top, left : width - left] = 3
        mask[top + 3 : height - top - 3, left + 3 : width - left - 3] = 1
    return {"image": image, "segmentation_mask": mask, "file_name": f"{split}_{index}.jpg"}


def mapped(mask: np.ndarray) -> np.ndarray:
    """A raw trimap as class indices."""
    table = np.zeros(256, dtype=np.int64)
    for raw, index in TRIMAP.items():
        table[raw] = index
    return table[mask[..., 0]]


def examples_fn(counts: dict[str, int], unmapped: dict[str, int] | None = None):
    """An `as_dataset_fn` for `mock_data`: `pet_example`s per split (`counts`).

    Args:
        counts: the examples of each split.
        unmapped: per split, the index of an example whose mask gets the value 7.
    """

    def as_dataset(self, split, decoders=None, read_config=None, **kwargs):
        def examples():
            for index in range(counts[str(split)]):
                example = pet_example(index, str(split))
                if (unmapped or {}).get(str(split)) == index:
                    example["segmentation_mask"][0, 0] = 7
                yield example

        return tf.data.Dataset.from_generator(
            examples,
            output_signature={
                "image": tf.TensorSpec((None, None, 3), tf.uint8),
                "segmentation_mask": tf.TensorSpec((None, None, 1), tf.uint8),
                "file_name": tf.TensorSpec((), tf.string),
            },
        )

    return as_dataset


def pets_config(data_dir, size=SIZE, **settings) -> DataConfig:
    image = ImageConfig(size=size) if size else ImageConfig()
    return DataConfig(uri=f"tfds:{NAME}", tfds_data_dir=str(data_dir), image=image, **settings)


def load_pets(config: DataConfig):
    return load_dataset(config, seed=0, problem=SEGMENTATION, kind="segmentation")


@pytest.fixture
def own_test_split(tmp_path):
    """Metadata in which oxford_iiit_pet has its own train (40) and test (12) splits."""
    counts = {"train": 40, "test": 12}
    write_split_metadata(tmp_path, NAME, counts)
    return tmp_path, counts


def test_pets_resize_map_the_trimap_and_keep_the_own_test_split(own_test_split):
    data_dir, counts = own_test_split
    with tfds.testing.mock_data(
        policy=tfds.testing.MockPolicy.USE_FILES,
        data_dir=str(data_dir),
        as_dataset_fn=examples_fn(counts),
    ):
        dataset = load_pets(pets_config(data_dir, val_fraction=0.25))
        first = next(dataset.test.make_dataset().as_numpy_iterator())
    assert dataset.spec.kind == "segmentation"
    assert dataset.spec.class_names == ("background", "pet")
    assert dataset.spec.example_shape == (*SIZE, 3)
    # The own 12 test images untouched; a quarter of the 40 train images carved for validation.
    assert dataset.split_sizes() == {"train": 30, "val": 10, "test": 12}
    assert dataset.resplit is None and dataset.pool_labels is None
    # The val part keeps the strata's proportions: 2 of the 8 pet-less train images.
    pet_less = [not (mask == 1).any() for mask in dataset.val.labels]
    assert sum(pet_less) == 2
    test = dataset.test.labels
    assert test.shape == (12, *SIZE)
    for index, mask in enumerate(test):
        raw = pet_example(index, "test")
        if index % 2 == 0:  # Read at its own size: exactly the trimap's classes.
            np.testing.assert_array_equal(mask, mapped(raw["segmentation_mask"]))
        else:  # Resized with nearest neighbour: only the mapped values, border included.
            assert set(np.unique(mask)) == ({0} if index % 5 == 4 else {0, 1, IGNORE})
    image, mask = first
    assert image.dtype == np.uint8 and image.shape == (*SIZE, 3)
    np.testing.assert_array_equal(image, pet_example(0, "test")["image"])
    np.testing.assert_array_equal(mask, test[0])
    notes = " ".join(dataset.notes)
    assert "own 'test' split" in notes and "data.test_fraction is not used" in notes
    assert "1 -> pet, 2 -> background, 3 -> ignored (255)" in notes
    assert f"Read 52 images and their masks into memory at {SIZE[0]}x{SIZE[1]}" in notes


def test_an_odd_sized_image_is_resized_bilinearly_and_rounded(own_test_split):
    data_dir, counts = own_test_split
    with tfds.testing.mock_data(
        policy=tfds.testing.MockPolicy.USE_FILES,
        data_dir=str(data_dir),
        as_dataset_fn=examples_fn(counts),
    ):
        dataset = load_pets(pets_config(data_dir))
        image, _ = list(dataset.test.make_dataset().take(2).as_numpy_iterator())[1]
    expected = tf.image.resize(pet_example(1, "test")["image"], SIZE, method="bilinear")
    np.testing.assert_array_equal(image, np.round(expected.numpy()).astype(np.uint8))


def test_without_split_metadata_val_and_test_are_carved_at_the_default_size(tmp_path):
    with tfds.testing.mock_data(as_dataset_fn=examples_fn({"train": 40})):
        dataset = load_pets(pets_config(tmp_path, size=None))
    assert dataset.spec.example_shape == (128, 128, 3)
    assert dataset.split_sizes() == {"train": 28, "val": 4, "test": 8}
    assert not any("own" in note for note in dataset.notes)
    assert any("at 128x128" in note for note in dataset.notes)


def test_the_fingerprint_follows_the_size(tmp_path):
    def fingerprint(size):
        with tfds.testing.mock_data(as_dataset_fn=examples_fn({"train": 20})):
            return load_pets(pets_config(tmp_path, size=size)).fingerprint

    assert fingerprint(SIZE) == fingerprint(SIZE) != fingerprint((16, 16))


def test_a_mask_value_outside_the_trimap_names_the_example_and_the_value(own_test_split):
    data_dir, counts = own_test_split
    with (
        tfds.testing.mock_data(
            policy=tfds.testing.MockPolicy.USE_FILES,
            data_dir=str(data_dir),
            as_dataset_fn=examples_fn(counts, unmapped={"test": 5}),
        ),
        pytest.raises(DataError) as raised,
    ):
        load_pets(pets_config(data_dir))
    message = str(raised.value)
    assert "'oxford_iiit_pet', split 'test', example 5 ('test_5.jpg')" in message
    assert "the value 7" in message and "mapped: [1, 2, 3]" in message


@pytest.mark.parametrize(
    ("name", "hint"), [("mnist", ""), ("oxford_iiit_pets", " Did you mean 'oxford_iiit_pet'?")]
)
def test_a_dataset_without_a_recipe_names_the_supported_ones(tmp_path, name, hint):
    config = DataConfig(uri=f"tfds:{name}", tfds_data_dir=str(tmp_path))
    with pytest.raises(DataError) as raised:
        load_pets(config)
    message = str(raised.value)
    assert f"'{name}' cannot be read for semantic segmentation" in message
    assert "['oxford_iiit_pet']" in message and "folder of images/ and masks/" in message
    assert message.endswith(hint or "`data.uri: folder:PATH`).")


@pytest.mark.parametrize(
    ("size", "error"),
    [
        ([0, 10], r"data\.image\.size\[0\] must be >= 1\. Received: 0\."),
        ([64], r"data\.image\.size must hold 2 items \(\[height, width\]\), or null"),
        ([64, 64, 3], r"data\.image\.size must hold 2 items"),
        ("128", r"'data\.image\.size' must be a list"),
    ],
)
def test_data_image_size_is_validated(size, error):
    raw = {"name": "p", "task": "semantic_segmentation", "data": {"uri": f"tfds:{NAME}"}}
    raw["data"]["image"] = {"size": size}
    with pytest.raises(ConfigError, match=error):
        parse_config(raw)


def test_data_image_size_parses_as_a_pair():
    raw = {"name": "p", "task": "semantic_segmentation", "data": {"uri": f"tfds:{NAME}"}}
    raw["data"]["image"] = {"size": [96, 160]}
    assert parse_config(raw).data.image.size == (96, 160)
    assert ImageConfig(size=[8, 8]).size == (8, 8) and ImageConfig().size is None


# tfds's real path: the oxford_iiit_pet builder, preparing the archives the test writes.

ARCHIVES = ("images.tar.gz", "annotations.tar.gz")
PREPARED = {"trainval": 12, "test": 4}  # Images per list file; the builder's train and test.


def gzipped_tar(path, files: dict[str, bytes]) -> None:
    """Writes a .tar.gz holding `files` (archive path -> content)."""
    with tarfile.open(path, "w:gz") as archive:
        for name, content in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            archive.addfile(info, io.BytesIO(content))


def encoded(array: np.ndarray, fmt: str) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format=fmt)
    return buffer.getvalue()


def write_pet_archives(folder) -> None:
    """The two archives oxford_iiit_pet downloads, in its layout, with `pet_example`s."""
    images, annotations = {}, {}
    for list_name, count in PREPARED.items():
        lines = []
        for index in range(count):
            stem = f"{list_name}_{index}"
            example = pet_example(index, list_name)
            images[f"images/{stem}.jpg"] = encoded(example["image"], "JPEG")
            trimap = example["segmentation_mask"][..., 0]
            annotations[f"annotations/trimaps/{stem}.png"] = encoded(trimap, "PNG")
            lines.append(f"{stem} 1 1 1")  # Breed 1 (Abyssinian), species 1 (cat).
        annotations[f"annotations/{list_name}.txt"] = ("\n".join(lines) + "\n").encode()
    gzipped_tar(folder / "images.tar.gz", images)
    gzipped_tar(folder / "annotations.tar.gz", annotations)


@pytest.fixture(scope="module")
def prepared_pets(tmp_path_factory):
    """A tfds data dir where tfds's own oxford_iiit_pet builder prepared the written archives.

    The builder would download the archives (checksums registered by tfds); the
    written ones lie in the manual dir instead, where tfds's download manager
    takes a file of the registered name, and the builder's checksums are theirs.
    """
    sources = tmp_path_factory.mktemp("pet_archives")
    write_pet_archives(sources)
    builder_class = tfds.builder_cls(NAME)
    url_infos = {
        url: tfds.download.checksums.compute_url_info(sources / info.filename)
        for url, info in builder_class.url_infos.items()
    }
    assert sorted(info.filename for info in url_infos.values()) == sorted(ARCHIVES)
    root = tmp_path_factory.mktemp("tfds")
    config = tfds.download.DownloadConfig(manual_dir=os.fspath(sources))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(builder_class, "url_infos", url_infos)
        builder_class(data_dir=os.fspath(root)).download_and_prepare(download_config=config)
    return root


def test_prepared_pets_load_through_tfds_with_their_own_test_split(prepared_pets):
    dataset = load_pets(pets_config(prepared_pets, val_fraction=0.25))
    assert dataset.split_sizes() == {"train": 9, "val": 3, "test": 4}
    assert any("own 'test' split" in note for note in dataset.notes)
    # tfds stores examples in the order of its keys' hashes: match the masks as a set.
    expected = {
        mapped(pet_example(index, "test")["segmentation_mask"]).tobytes()
        for index in range(PREPARED["test"])
        if index % 2 == 0
    }
    read = {mask.astype(np.int64).tobytes() for mask in dataset.test.labels}
    assert expected <= read
    assert all(set(np.unique(mask)) <= {0, 1, IGNORE} for mask in dataset.test.labels)
    images = [image for image, _ in dataset.train.make_dataset().as_numpy_iterator()]
    assert all(image.shape == (*SIZE, 3) and image.dtype == np.uint8 for image in images)


def test_unprepared_pets_offline_fail_with_the_tfds_message(tmp_path, monkeypatch):
    # Every request goes to a dead proxy: offline here, and never a real download elsewhere.
    for variable in PROXY_VARIABLES:
        monkeypatch.setenv(variable, f"http://127.0.0.1:{closed_port()}")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    with pytest.raises(DataError) as raised:
        load_pets(pets_config(tmp_path / "empty"))
    message = str(raised.value)
    empty = tmp_path / "empty"
    assert f"'{NAME}' is not prepared in {empty} and could not be downloaded" in message
    assert f"`tfds build {NAME} --data_dir DIR`" in message and "\n" not in message
