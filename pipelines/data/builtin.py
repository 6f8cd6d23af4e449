"""Offline built-in datasets: `builtin:NAME`, data that ships with installed packages."""

from __future__ import annotations

import collections
import dataclasses
from collections.abc import Callable

import numpy as np
from sklearn import datasets as sklearn_datasets

from pipelines.config import DataConfig
from pipelines.data.base import Dataset, DataSpec, array_dataset, split_indices
from pipelines.data.fortunes import ENGLISH, LANGUAGE_NAMES, read_corpus
from pipelines.data.tabular import load_table
from pipelines.data.text import label_texts
from pipelines.registry import Registry


@dataclasses.dataclass(frozen=True)
class BuiltinDataset:
    """A built-in dataset: its loader and a one-line description for `tasklab datasets`.

    Attributes:
        load: `load(uri, config, seed) -> Dataset`.
        kind: the kind of input (`image`, `tabular`, ...).
        problem: `classification` or `regression`.
        description: one line for `tasklab datasets`.
    """

    load: Callable[[str, DataConfig, int], Dataset]
    kind: str
    problem: str
    description: str


BUILTIN_DATASETS: Registry[BuiltinDataset] = Registry("built-in dataset")


def load_digits(uri: str, config: DataConfig, seed: int) -> Dataset:
    """sklearn's bundled 8x8 handwritten digits (1,797 images, 10 classes).

    The 0..16 intensities become uint8 0..255 images of shape (8, 8, 1), so
    they flow through the same image pipeline as PNG files.
    """
    bunch = sklearn_datasets.load_digits()
    images = np.rint(bunch.images * (255.0 / 16.0)).astype(np.uint8)[..., np.newaxis]
    labels = bunch.target.astype(np.int64)
    class_names = tuple(str(name) for name in bunch.target_names)
    fractions = (config.val_fraction, config.test_fraction)
    spec = DataSpec(kind="image", class_names=class_names, example_shape=images.shape[1:])
    return array_dataset(
        uri, spec, images, labels, split_indices(labels, fractions, seed, class_names)
    )


BUILTIN_DATASETS.register("digits")(
    BuiltinDataset(
        load=load_digits,
        kind="image",
        problem="classification",
        description="handwritten digits 0-9, 1,797 grayscale 8x8 images (scikit-learn)",
    )
)


def sklearn_table(name: str, problem: str) -> Callable[[str, DataConfig, int], Dataset]:
    """Returns a loader for one of sklearn's bundled tables (`sklearn.datasets.load_NAME`)."""

    def load(uri: str, config: DataConfig, seed: int) -> Dataset:
        bunch = getattr(sklearn_datasets, f"load_{name}")(as_frame=True)
        names = getattr(bunch, "target_names", None)
        class_names = tuple(str(n) for n in names) if problem == "classification" else None
        return load_table(uri, bunch.frame, "target", config, seed, problem, class_names)

    return load


for _name, _problem, _description in [
    (
        "breast_cancer",
        "classification",
        "tumour malignant/benign from 30 cell measurements, 569 rows",
    ),
    ("wine", "classification", "wine cultivar (3 classes) from 13 chemical measurements, 178 rows"),
    ("iris", "classification", "iris species (3 classes) from 4 flower measurements, 150 rows"),
    ("diabetes", "regression", "disease progression after one year from 10 measurements, 442 rows"),
]:
    BUILTIN_DATASETS.register(_name)(
        BuiltinDataset(sklearn_table(_name, _problem), "tabular", _problem, _description)
    )


MIN_TOPIC_FORTUNES = 400  # Topics with fewer English fortunes are left out of fortunes_topics.


def load_fortunes_lang(uri: str, config: DataConfig, seed: int) -> Dataset:
    """Language identification over the installed fortunes corpora, one class per language."""
    corpus = read_corpus()
    texts = [fortune.text for fortune in corpus.fortunes]
    languages = [LANGUAGE_NAMES.get(f.language, f.language) for f in corpus.fortunes]
    return label_texts(texts, languages, uri, config, seed, corpus.notes())


def load_fortunes_topics(uri: str, config: DataConfig, seed: int) -> Dataset:
    """English fortunes labelled by their topic file, for topics with enough fortunes."""
    corpus = read_corpus()
    english = [fortune for fortune in corpus.fortunes if fortune.language == ENGLISH]
    counts = collections.Counter(fortune.topic for fortune in english)
    kept = {topic for topic, count in counts.items() if count >= MIN_TOPIC_FORTUNES}
    left_out = sorted(topic for topic in counts if topic not in kept)
    chosen = [fortune for fortune in english if fortune.topic in kept]
    notes = [
        *corpus.notes(),
        f"Kept the {len(kept)} English topics with at least {MIN_TOPIC_FORTUNES} fortunes "
        f"({len(chosen)} fortunes); left out {len(left_out)} smaller topics: "
        f"{', '.join(left_out)}.",
    ]
    return label_texts(
        [f.text for f in chosen], [f.topic for f in chosen], uri, config, seed, notes
    )


BUILTIN_DATASETS.register("fortunes_lang")(
    BuiltinDataset(
        load=load_fortunes_lang,
        kind="text",
        problem="classification",
        description="language of a fortune (English, German, Spanish, Italian, Czech, Russian, "
        "Polish, ...), ~89k texts from the Debian fortunes corpora",
    )
)
BUILTIN_DATASETS.register("fortunes_topics")(
    BuiltinDataset(
        load=load_fortunes_topics,
        kind="text",
        problem="classification",
        description=f"topic file of an English fortune (topics with >= {MIN_TOPIC_FORTUNES} "
        "fortunes), ~11k texts from the Debian fortunes corpus",
    )
)


def load_spoken_words(uri: str, config: DataConfig, seed: int) -> Dataset:
    """Keyword clips synthesized with espeak-ng (see `pipelines.data.spoken_words`)."""
    from pipelines.data.spoken_words import load_spoken_words as load

    return load(uri, config, seed)


BUILTIN_DATASETS.register("spoken_words")(
    BuiltinDataset(
        load=load_spoken_words,
        kind="audio",
        problem="classification",
        description="10 spoken keywords plus unknown words and silence, synthesized offline "
        "with espeak-ng by every English accent and voice variant; split by voice",
    )
)
