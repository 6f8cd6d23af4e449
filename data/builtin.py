"""Offline built-in datasets: `builtin:NAME`, data that ships with installed packages."""

from __future__ import annotations

import collections
import dataclasses
from collections.abc import Callable

import numpy as np
from sklearn import datasets as sklearn_datasets

from tasklab.core.catalog import BUILTINS, MIN_TOPIC_FORTUNES
from tasklab.core.config import DataConfig
from tasklab.core.problems import Problem, problem_named
from tasklab.core.registry import Registry
from tasklab.data.base import Dataset, DataSpec, array_dataset, split_indices
from tasklab.data.fortunes import ENGLISH, LANGUAGE_NAMES, read_corpus
from tasklab.data.tabular import load_table
from tasklab.data.text import label_texts


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


def register_builtin(name: str, load: Callable[[str, DataConfig, int], Dataset]) -> None:
    """Registers a loader under its name, with the kind, problem and description the
    TF-free catalog (`core.catalog.BUILTINS`) gives it."""
    info = BUILTINS[name]
    BUILTIN_DATASETS.register(name)(BuiltinDataset(load, info.kind, info.problem, info.description))


register_builtin("digits", load_digits)


def sklearn_table(name: str, problem: Problem) -> Callable[[str, DataConfig, int], Dataset]:
    """Returns a loader for one of sklearn's bundled tables (`sklearn.datasets.load_NAME`)."""

    def load(uri: str, config: DataConfig, seed: int) -> Dataset:
        bunch = getattr(sklearn_datasets, f"load_{name}")(as_frame=True)
        names = getattr(bunch, "target_names", None)
        class_names = tuple(str(n) for n in names) if problem.has_classes else None
        return load_table(uri, bunch.frame, "target", config, seed, problem, class_names)

    return load


for _name in ("breast_cancer", "wine", "iris", "diabetes"):
    register_builtin(_name, sklearn_table(_name, problem_named(BUILTINS[_name].problem)))


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


register_builtin("fortunes_lang", load_fortunes_lang)
register_builtin("fortunes_topics", load_fortunes_topics)


def load_spoken_words(uri: str, config: DataConfig, seed: int) -> Dataset:
    """Keyword clips synthesized with espeak-ng (see `data.spoken_words`)."""
    from tasklab.data.spoken_words import load_spoken_words as load

    return load(uri, config, seed)


register_builtin("spoken_words", load_spoken_words)


def load_textured_shapes(uri: str, config: DataConfig, seed: int) -> Dataset:
    """Textured shapes on cluttered backgrounds, generated once and cached as a segmentation
    folder (see `data.textured_shapes`), then read as any segmentation folder is."""
    from tasklab.data.textured_shapes import load_textured_shapes as load

    return load(uri, config, seed)


register_builtin("textured_shapes", load_textured_shapes)
