"""tfds's real path, no `mock_data`: datasets that tfds builds on disk, then tasklab loads.

The builders below read files the test writes (their manual dir), so tfds
encodes, shards and records split metadata itself; tasklab then loads them
exactly as a user's `tfds:mnist` once prepared. The offline tests point every
download at a dead proxy or a local server: they never reach the network, even
on a machine that has one.
"""

from __future__ import annotations

import http.server
import os
import socket
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import tensorflow_datasets as tfds
import yaml

from tasklab.core import io
from tasklab.core.config import DataConfig
from tasklab.data import DataError, load_dataset
from tasklab.pipelines.cli import main
from tests.conftest import class_pattern, write_image

BANDS = ("top", "upper", "lower")
PHRASES = {
    "weather": ("rain falls on the hills", "sunny skies and a warm wind", "snow covers the road"),
    "food": ("fresh bread from the oven", "a bowl of hot soup", "apples and sweet pears"),
}
SIZE = 16
PER_CLASS = {"train": 12, "test": 6}
PROXY_VARIABLES = ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy")


def band_info(builder: tfds.core.GeneratorBasedBuilder) -> tfds.core.DatasetInfo:
    """The info of a supervised dataset of band images."""
    return builder.dataset_info_from_configs(
        features=tfds.features.FeaturesDict(
            {
                "image": tfds.features.Image(shape=(SIZE, SIZE, 3)),
                "label": tfds.features.ClassLabel(names=BANDS),
            }
        ),
        supervised_keys=("image", "label"),
    )


class TasklabBands(tfds.core.GeneratorBasedBuilder):
    """16x16 RGB images whose bright band's row is the class, from PNG files."""

    VERSION = tfds.core.Version("1.0.0")
    MANUAL_DOWNLOAD_INSTRUCTIONS = "`train/CLASS/*.png` and `test/CLASS/*.png`."

    def _info(self) -> tfds.core.DatasetInfo:
        return band_info(self)

    def _split_generators(self, dl_manager):
        manual = dl_manager.manual_dir
        return {split: self._generate_examples(manual / split) for split in PER_CLASS}

    def _generate_examples(self, folder):
        for path in sorted(folder.glob("*/*.png")):
            yield (
                f"{path.parent.name}/{path.name}",
                {
                    "image": os.fspath(path),
                    "label": path.parent.name,
                },
            )


class TasklabPhrases(tfds.core.GeneratorBasedBuilder):
    """Short English phrases by topic, one per line of `SPLIT/TOPIC.txt`."""

    VERSION = tfds.core.Version("1.0.0")
    MANUAL_DOWNLOAD_INSTRUCTIONS = "`train/TOPIC.txt` and `test/TOPIC.txt`."

    def _info(self) -> tfds.core.DatasetInfo:
        return self.dataset_info_from_configs(
            features=tfds.features.FeaturesDict(
                {
                    "text": tfds.features.Text(),
                    "label": tfds.features.ClassLabel(names=tuple(PHRASES)),
                }
            ),
            supervised_keys=("text", "label"),
        )

    def _split_generators(self, dl_manager):
        manual = dl_manager.manual_dir
        return {split: self._generate_examples(manual / split) for split in PER_CLASS}

    def _generate_examples(self, folder):
        for path in sorted(folder.glob("*.txt")):
            for i, line in enumerate(path.read_text().splitlines()):
                yield f"{path.stem}/{i}", {"text": line, "label": path.stem}


class TasklabRemote(tfds.core.GeneratorBasedBuilder):
    """Downloads its one file from `SOURCE_URL` (set by the test); has no checksums file."""

    VERSION = tfds.core.Version("1.0.0")
    SOURCE_URL = "http://127.0.0.1:1/unset.zip"

    def _info(self) -> tfds.core.DatasetInfo:
        return band_info(self)

    def _split_generators(self, dl_manager):
        dl_manager.download(self.SOURCE_URL)
        raise AssertionError("The download should have failed.")

    def _generate_examples(self):
        yield from ()


def write_sources(root):
    """Writes the files the builders read: PNGs per band, phrases per topic."""
    rng = np.random.default_rng(0)
    for split, count in PER_CLASS.items():
        for label, name in enumerate(BANDS):
            for i in range(count):
                write_image(root / split / name / f"{i:02d}.png", class_pattern(label, SIZE, rng))
        (root / split).mkdir(parents=True, exist_ok=True)
        for topic in PHRASES:
            (root / split / f"{topic}.txt").write_text("\n".join(topic_lines(topic, count)) + "\n")


def topic_lines(topic: str, count: int) -> list[str]:
    """The topic's phrases with a numbered suffix: distinct lines that keep the topic's words."""
    phrases = PHRASES[topic]
    return [f"{phrases[i % len(phrases)]} {i}" for i in range(count)]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    """A tfds data dir holding `tasklab_bands` and `tasklab_phrases`, prepared by tfds."""
    sources = tmp_path_factory.mktemp("sources")
    write_sources(sources)
    root = tmp_path_factory.mktemp("tfds")
    config = tfds.download.DownloadConfig(manual_dir=os.fspath(sources))
    for builder_class in (TasklabBands, TasklabPhrases):
        builder_class(data_dir=os.fspath(root)).download_and_prepare(download_config=config)
    return root


def closed_port() -> int:
    """A local port that nothing listens on (refuses connections at once)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_a_prepared_image_dataset_loads_with_its_own_test_split(data_dir):
    config = DataConfig(uri="tfds:tasklab_bands", val_fraction=0.25, tfds_data_dir=str(data_dir))
    dataset = load_dataset(config, seed=0, problem="classification", kind="image")
    assert dataset.spec.kind == "image" and dataset.spec.class_names == BANDS
    assert dataset.spec.example_shape == (SIZE, SIZE, 3)
    # 36 train images, 9 of them carved for validation (3 a class); the 18 test images untouched.
    assert dataset.split_sizes() == {"train": 27, "val": 9, "test": 18}
    assert any("own 'test' split" in note for note in dataset.notes)
    assert np.bincount(dataset.val.labels).tolist() == [3, 3, 3]
    images, labels = zip(*dataset.test.make_dataset().as_numpy_iterator(), strict=True)
    assert np.asarray(labels).tolist() == dataset.test.labels.tolist()
    assert images[0].shape == (SIZE, SIZE, 3) and images[0].dtype == np.uint8
    # PNG is lossless: each decoded image still has its class's bright band.
    for image, label in zip(images, labels, strict=True):
        assert image[label * SIZE // 4, :, :].min() == 220
    assert not dataset.train.in_memory


def test_a_prepared_text_dataset_loads_with_a_train_vocabulary(data_dir):
    config = DataConfig(uri="tfds:tasklab_phrases", tfds_data_dir=str(data_dir))
    dataset = load_dataset(config, seed=0, kind="text")
    assert dataset.spec.kind == "text" and dataset.spec.class_names == tuple(PHRASES)
    assert dataset.split_sizes()["test"] == 12
    assert {"rain", "soup", "bread"} <= set(dataset.spec.schema.vocabulary)
    # tfds stores the examples in the order of their keys' hashes, each with its own label.
    examples = dataset.test.make_dataset().as_numpy_iterator()
    read = {(text.decode(), int(label)) for text, label in examples}
    written = {
        (line, label)
        for label, topic in enumerate(PHRASES)
        for line in topic_lines(topic, PER_CLASS["test"])
    }
    assert read == written


def test_tasklab_run_trains_on_a_prepared_dataset(data_dir, tmp_path, capsys):
    config = tmp_path / "bands.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "name": "bands",
                "task": "image_classification",
                "data": {"uri": "tfds:tasklab_bands", "tfds_data_dir": str(data_dir)},
                "model": {"augment": False},
                "train": {"epochs": 2, "batch_size": 8},
                "strategy": {"name": "cpu"},
                "baselines": [],
                "explain": {"methods": []},
                "export": {"variants": []},
            }
        )
    )
    assert main(["run", str(config), "--runs-dir", str(tmp_path / "runs")]) == 0
    out = capsys.readouterr().out
    metrics = io.read_json(Path(out.strip().splitlines()[-1]) / "metrics.json")
    assert metrics["splits"] == {"train": 32, "val": 4, "test": 18}
    assert metrics["epochs_run"] == 2 and "test accuracy" in out
    assert any("own 'test' split" in note for note in metrics["data_notes"])


def test_mnist_offline_and_unprepared_fails_fast_in_one_line(tmp_path, monkeypatch, capsys):
    # Every request goes to a dead proxy: offline here, and never a real download elsewhere.
    for variable in PROXY_VARIABLES:
        monkeypatch.setenv(variable, f"http://127.0.0.1:{closed_port()}")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    empty = tmp_path / "tfds"
    config = tmp_path / "mnist.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "name": "mnist",
                "task": "image_classification",
                "data": {"uri": "tfds:mnist", "tfds_data_dir": str(empty)},
                "train": {"epochs": 1},
                "strategy": {"name": "cpu"},
                "baselines": [],
                "explain": {"methods": []},
                "export": {"variants": []},
            }
        )
    )
    started = time.monotonic()
    status = main(["run", str(config), "--runs-dir", str(tmp_path / "runs")])
    elapsed = time.monotonic() - started
    err = capsys.readouterr().err
    assert status == 2
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in err
    (message,) = errors
    assert f"'mnist' is not prepared in {empty} and could not be downloaded (" in message
    assert "the proxy: Connection refused" in message
    assert "`tfds build mnist --data_dir DIR`" in message and "copy DIR/mnist/" in message
    # tfds alone retries for about 3.5 minutes before it gives up.
    assert elapsed < 30


class _NotFound(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_error(404)

    def log_message(self, *args):
        pass


@pytest.fixture
def local_server():
    """An HTTP server on 127.0.0.1 that answers 404 to everything; yields its base URL."""
    server = http.server.HTTPServer(("127.0.0.1", 0), _NotFound)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_a_failed_download_without_known_urls_is_one_data_error(
    tmp_path, monkeypatch, local_server
):
    for variable in PROXY_VARIABLES:
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setattr(TasklabRemote, "SOURCE_URL", f"{local_server}/data.zip")
    config = DataConfig(uri="tfds:tasklab_remote", tfds_data_dir=str(tmp_path))
    with pytest.raises(DataError) as raised:
        load_dataset(config, seed=0)
    message = str(raised.value)
    assert "'tasklab_remote' is not prepared in" in message and "HTTP code: 404" in message
    assert "\n" not in message
