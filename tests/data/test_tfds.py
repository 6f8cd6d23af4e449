"""The real tfds loading code, offline through `tfds.testing.mock_data`."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow_datasets as tfds

from tasklab.core.config import DataConfig
from tasklab.data import DataError, load_dataset


def write_split_metadata(data_dir, name, splits):
    """Writes real-looking metadata so the mock reports the dataset's own splits."""
    builder = tfds.builder(name, data_dir=data_dir)
    info = builder.info
    info.set_splits(
        tfds.core.SplitDict(
            [tfds.core.SplitInfo(name=s, shard_lengths=[n], num_bytes=0) for s, n in splits.items()]
        )
    )
    directory = data_dir / name / str(builder.version)
    directory.mkdir(parents=True)
    info.write_to_directory(directory)


def test_mnist_without_split_metadata_carves_val_and_test_from_train(tmp_path):
    with tfds.testing.mock_data(num_examples=300):
        dataset = load_dataset(DataConfig(uri="tfds:mnist", tfds_data_dir=str(tmp_path)), seed=0)
        assert dataset.spec.class_names == tuple(str(i) for i in range(10))
        assert dataset.spec.example_shape == (28, 28, 1)
        assert dataset.split_sizes() == {"train": 210, "val": 30, "test": 60}
        images, labels = zip(*dataset.val.make_dataset().as_numpy_iterator(), strict=True)
    assert np.asarray(labels).tolist() == dataset.val.labels.tolist()
    assert images[0].shape == (28, 28, 1) and images[0].dtype == np.uint8
    assert not dataset.train.in_memory


def test_mnist_uses_its_own_test_split(tmp_path):
    write_split_metadata(tmp_path, "mnist", {"train": 200, "test": 200})
    with tfds.testing.mock_data(
        num_examples=200, policy=tfds.testing.MockPolicy.USE_FILES, data_dir=str(tmp_path)
    ):
        dataset = load_dataset(
            DataConfig(uri="tfds:mnist", val_fraction=0.25, tfds_data_dir=str(tmp_path)), seed=0
        )
        sizes = dataset.split_sizes()
        assert sizes == {"train": 150, "val": 50, "test": 200}
        assert any("own 'test' split" in note for note in dataset.notes)
        shuffled = [
            int(y) for _, y in dataset.train.make_dataset(shuffle_seed=1).as_numpy_iterator()
        ]
    assert sorted(shuffled) == sorted(dataset.train.labels.tolist())


def test_unknown_tfds_name_suggests_the_closest(tmp_path):
    with pytest.raises(DataError, match=r"no dataset named 'mnsit'.*Did you mean 'mnist'"):
        load_dataset(DataConfig(uri="tfds:mnsit", tfds_data_dir=str(tmp_path)), seed=0)


@pytest.mark.parametrize(
    ("name", "classes"), [("imdb_reviews", ("neg", "pos")), ("ag_news_subset", None)]
)
def test_text_datasets_load_as_text_with_a_train_vocabulary(tmp_path, name, classes):
    with tfds.testing.mock_data(num_examples=120):
        dataset = load_dataset(
            DataConfig(uri=f"tfds:{name}", tfds_data_dir=str(tmp_path)),
            seed=0,
            kind="text",
        )
        texts = [text for text, _ in dataset.test.make_dataset().take(3).as_numpy_iterator()]
    assert dataset.spec.kind == "text"
    if classes:
        assert dataset.spec.class_names == classes
    schema = dataset.spec.schema
    assert schema.vocabulary[:2] == ("", "[UNK]") and len(schema.vocabulary) > 2
    assert dataset.spec.example_shape == (schema.sequence_length,)
    assert all(isinstance(text, bytes) for text in texts)
    assert any("adapted on the train split" in note for note in dataset.notes)


def test_an_image_dataset_for_a_text_task_is_refused(tmp_path):
    with tfds.testing.mock_data(num_examples=30), pytest.raises(DataError, match="image inputs"):
        load_dataset(DataConfig(uri="tfds:mnist", tfds_data_dir=str(tmp_path)), 0, kind="text")
