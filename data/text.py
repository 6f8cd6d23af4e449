"""Text data: labelled texts from folders, CSV files and the fortunes corpora, and their tokens.

Every text source ends in `text_dataset`, which

1. drops empty texts and repeated texts (a text in both train and test would
   score memorization), counting both in the notes;
2. splits the rest, stratified and seeded, like every other source;
3. adapts a Keras `TextVectorization` on the train split only and keeps its
   vocabulary in the spec (`TextSchema`), so the task tokenizes every split
   with it and the export bundle carries it to the device;
4. counts the texts longer than `data.tokenizer.sequence_length` tokens, which
   the tokenizer truncates.

The splits yield raw strings; the task turns them into token ids
(`TextClassification.preprocess`), so classical baselines see the same raw
texts (their TF-IDF is fitted on the train split too).
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import keras
import numpy as np
import pandas as pd
import tensorflow as tf

from tasklab.core.config import DataConfig, TokenizerConfig
from tasklab.core.errors import name_some
from tasklab.core.registry import closest_hint
from tasklab.data.base import (
    DataError,
    Dataset,
    DataSpec,
    Split,
    find_duplicates,
    split_indices,
)
from tasklab.data.folder import ignored_note, index_class_folders, name_files, skip_unreadable
from tasklab.data.tabular import header_hint, read_csv_table
from tasklab.edge.edge_inputs import TEXT_SUFFIXES, EdgeInputError, decode_text_file

TEXT_COLUMN = "text"  # The column of a text split's baseline frame.
_ADAPT_BATCH = 1024
_MAX_NAMED = 10

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class TextSchema:
    """The fitted tokenizer: everything needed to turn a raw text into the model's token ids.

    Attributes:
        vocabulary: the token of every id: `''` (padding, id 0), `[UNK]`
            (out of vocabulary, id 1), then the train tokens by frequency.
        mode: `word` or `char`.
        ngrams: the longest n-gram.
        sequence_length: ids per text (padded with 0 or truncated).
        standardize: the `TextVectorization` standardization, or `none`.
    """

    vocabulary: tuple[str, ...]
    mode: str
    ngrams: int
    sequence_length: int
    standardize: str

    def vectorizer(self, ragged: bool = False) -> keras.layers.TextVectorization:
        """A `TextVectorization` layer with this vocabulary (nothing is adapted again).

        Args:
            ragged: return every token of a text, unpadded and untruncated.
        """
        length = None if ragged else self.sequence_length
        layer = _text_vectorization(self, max_tokens=None, sequence_length=length, ragged=ragged)
        layer.set_vocabulary(list(self.vocabulary[2:]))  # Padding and OOV are added back.
        return layer

    def summary(self) -> str:
        """One sentence for the data notes."""
        return (
            f"Vocabulary of {len(self.vocabulary)} {self.mode} tokens (n-grams up to "
            f"{self.ngrams}) adapted on the train split."
        )

    def to_json(self) -> dict[str, Any]:
        """What a device needs to tokenize like `TextVectorization` (`tasklab.edge.text_tokens`)."""
        return {
            "mode": self.mode,
            "ngrams": self.ngrams,
            "sequence_length": self.sequence_length,
            "standardize": self.standardize,
            "ngram_separator": " ",
            "padding_id": 0,
            "oov_id": 1,
            "vocabulary": list(self.vocabulary),
        }


def fit_text_schema(train_texts: tf.data.Dataset, config: TokenizerConfig) -> TextSchema:
    """Adapts `TextVectorization` on the train texts.

    Args:
        train_texts: the train split's texts (scalar strings, unbatched).
        config: the tokenizer settings.

    Returns:
        The schema holding the adapted vocabulary.
    """
    schema = TextSchema((), config.mode, config.ngrams, config.sequence_length, config.standardize)
    layer = _text_vectorization(schema, max_tokens=config.max_tokens, sequence_length=None)
    layer.adapt(train_texts.batch(_ADAPT_BATCH))
    vocabulary = tuple(str(token) for token in layer.get_vocabulary())
    return dataclasses.replace(schema, vocabulary=vocabulary)


def token_counts(texts: tf.data.Dataset, schema: TextSchema) -> np.ndarray:
    """The number of tokens of every text before padding or truncation.

    Args:
        texts: scalar strings, unbatched.
        schema: the tokenizer.

    Returns:
        One count per text, in order.
    """
    layer = schema.vectorizer(ragged=True)
    counts = [
        layer(batch).row_lengths().numpy()
        for batch in texts.batch(_ADAPT_BATCH).as_numpy_iterator()
    ]
    return np.concatenate(counts) if counts else np.zeros(0, dtype=np.int64)


def text_spec(schema: TextSchema, class_names: tuple[str, ...]) -> DataSpec:
    """The spec of a text dataset: one input is `sequence_length` token ids."""
    return DataSpec(
        kind="text",
        class_names=class_names,
        example_shape=(schema.sequence_length,),
        schema=schema,
    )


def truncation_note(counts: np.ndarray, sequence_length: int) -> str | None:
    """A note counting the texts with more tokens than the model takes (None if there are none)."""
    truncated = int(np.sum(counts > sequence_length))
    if not truncated:
        return None
    return (
        f"{truncated} of {len(counts)} texts ({truncated / len(counts):.1%}) have more than "
        f"data.tokenizer.sequence_length={sequence_length} tokens (longest: {int(counts.max())}) "
        "and are truncated to their first tokens; raise the length to keep more."
    )


def _text_vectorization(
    schema: TextSchema, max_tokens: int | None, sequence_length: int | None, ragged: bool = False
) -> keras.layers.TextVectorization:
    return keras.layers.TextVectorization(
        max_tokens=max_tokens,
        standardize=None if schema.standardize == "none" else schema.standardize,
        split="whitespace" if schema.mode == "word" else "character",
        ngrams=schema.ngrams if schema.ngrams > 1 else None,
        output_mode="int",
        output_sequence_length=sequence_length,
        ragged=ragged,
    )


def clean_texts(
    texts: Sequence[str | None],
    labels: Sequence[Any],
    names: Sequence[str] | None = None,
) -> tuple[list[str], list[Any], list[str]]:
    """Drops empty texts and repeated ones, so that no text is in two splits.

    Texts are compared after stripping. Of a text repeated under one label the
    first is kept; a text filed under different labels contradicts itself and
    none of its copies is kept (`find_duplicates`), whatever order it came in.

    Args:
        texts: the texts (None counts as empty).
        labels: one label per text.
        names: where each text came from (a file, a CSV line), for the notes;
            None to count without naming.

    Returns:
        The kept texts (stripped) and labels, and notes counting (and naming)
        what was dropped.
    """
    stripped = [(text or "").strip() for text in texts]
    present = [i for i, text in enumerate(stripped) if text]
    duplicates = find_duplicates([stripped[i] for i in present], [labels[i] for i in present])
    kept = [present[i] for i in duplicates.keep]

    def named(indices: list[int]) -> str:
        return f": {name_some([names[i] for i in indices], _MAX_NAMED)}" if names else ""

    notes = []
    empty = [i for i, text in enumerate(stripped) if not text]
    if empty:
        notes.append(f"Dropped {len(empty)} empty text(s){named(empty)}.")
    if duplicates.repeated:
        copies = [present[i] for members in duplicates.repeated for i in members[1:]]
        notes.append(
            f"Dropped {len(copies)} repeat(s) of {len(duplicates.repeated)} text(s) (the first "
            f"is kept, so no text is in two splits){named(copies)}."
        )
    if duplicates.conflicting:
        copies = [present[i] for members in duplicates.conflicting for i in members]
        notes.append(
            f"Left out {len(duplicates.conflicting)} text(s) filed under different classes "
            f"({len(copies)} copies; their labels contradict){named(copies)}."
        )
    return [stripped[i] for i in kept], [labels[i] for i in kept], notes


def text_dataset(
    uri: str,
    texts: Sequence[str],
    labels: np.ndarray,
    class_names: tuple[str, ...],
    config: DataConfig,
    seed: int,
    notes: Sequence[str] = (),
) -> Dataset:
    """Splits labelled texts and fits the tokenizer on the train part.

    Args:
        uri: the dataset URI.
        texts: the texts, already cleaned (`clean_texts`).
        labels: the class index of each text.
        class_names: one name per class.
        config: the data section (fractions, tokenizer).
        seed: seeds the split.
        notes: what loading did so far.

    Returns:
        The dataset; its splits yield `(text, label)` and re-split for cross-validation.

    Raises:
        DataError: when no text is left or a class has too few texts for every split.
    """
    if not len(texts):
        raise DataError(f"{uri} holds no non-empty texts. Add texts to it.")
    pool = np.empty(len(texts), dtype=object)
    pool[:] = list(texts)
    labels = np.asarray(labels, dtype=np.int64)
    counts = np.bincount(labels, minlength=len(class_names))
    empty_classes = [name for name, count in zip(class_names, counts, strict=True) if count == 0]
    if empty_classes:
        raise DataError(
            f"The class(es) {empty_classes} of {uri} have no texts left once empty texts and "
            "texts also filed under another class are dropped. Add texts to them or remove them."
        )
    digest = hashlib.sha256()
    for text, label in zip(pool, labels, strict=True):
        digest.update(f"{label}\0{text}\0".encode())
    fingerprint = digest.hexdigest()

    def resplit(
        train: np.ndarray, val: np.ndarray, test: np.ndarray, schema: TextSchema | None = None
    ) -> Dataset:
        schema = schema or fit_text_schema(_strings(pool[train]), config.tokenizer)
        return Dataset(
            uri=uri,
            spec=text_spec(schema, class_names),
            train=_text_split(pool, labels, train),
            val=_text_split(pool, labels, val),
            test=_text_split(pool, labels, test),
            fingerprint=fingerprint,
            notes=(*notes, schema.summary(), *truncated),
            pool_labels=labels,
            resplit=resplit,
        )

    fractions = (config.val_fraction, config.test_fraction)
    train, val, test = split_indices(labels, fractions, seed, class_names)
    schema = fit_text_schema(_strings(pool[train]), config.tokenizer)
    # Token counts do not depend on the vocabulary: counted once, not again per CV fold.
    note = truncation_note(token_counts(_strings(pool), schema), schema.sequence_length)
    truncated = (note,) if note else ()
    return resplit(train, val, test, schema)


def _strings(texts: np.ndarray) -> tf.data.Dataset:
    return tf.data.Dataset.from_tensor_slices(tf.constant(list(texts), dtype=tf.string))


def _text_split(pool: np.ndarray, labels: np.ndarray, indices: np.ndarray) -> Split:
    texts = pool[indices]
    split_labels = labels[indices]
    tensor = tf.constant(list(texts), dtype=tf.string)

    def make_dataset(shuffle_seed: int | None = None) -> tf.data.Dataset:
        dataset = tf.data.Dataset.from_tensor_slices((tensor, split_labels))
        if shuffle_seed is not None:
            dataset = dataset.shuffle(len(texts), seed=shuffle_seed, reshuffle_each_iteration=True)
        return dataset

    frame = pd.DataFrame({TEXT_COLUMN: texts.astype(str)})
    return Split(labels=split_labels, make_dataset=make_dataset, in_memory=True, frame=frame)


def label_texts(
    texts: Sequence[str],
    raw_labels: Sequence[str],
    uri: str,
    config: DataConfig,
    seed: int,
    notes: Sequence[str] = (),
    names: Sequence[str] | None = None,
) -> Dataset:
    """Cleans texts labelled by class name and makes the dataset (classes sorted by name).

    Args:
        texts: the texts.
        raw_labels: the class name of each text.
        uri: the dataset URI.
        config: the data section.
        seed: seeds the split.
        notes: what loading did so far.
        names: where each text came from, to name dropped ones (`clean_texts`).

    Returns:
        The dataset.
    """
    class_names = tuple(sorted({str(label) for label in raw_labels}))
    kept, kept_labels, cleaning = clean_texts(texts, [str(label) for label in raw_labels], names)
    if len(class_names) < 2:
        raise DataError(
            f"{uri} has a single class ({list(class_names)}); classification needs at least 2."
        )
    index = {name: i for i, name in enumerate(class_names)}
    labels = np.asarray([index[label] for label in kept_labels], dtype=np.int64)
    return text_dataset(uri, kept, labels, class_names, config, seed, (*notes, *cleaning))


def load_text_folder(uri: str, path: str, config: DataConfig, seed: int) -> Dataset:
    """`folder:PATH` for text: one sub-folder of `.txt` files per class.

    The layout of keras `text_dataset_from_directory`: each file is one text
    whose class is its folder's name. Files that are not UTF-8 are read with
    their undecodable bytes replaced (counted); binary files and files too
    large to be a text (`MAX_TEXT_BYTES`) are an error, or skipped with
    `data.skip_corrupt: true`. Texts are read as the edge runner reads them
    (`decode_text_file`).

    Args:
        uri: the dataset URI.
        path: the root folder.
        config: the data section.
        seed: seeds the split.

    Returns:
        The dataset.
    """
    root = Path(path).expanduser()
    class_names, files, labels, ignored = index_class_folders(root, TEXT_SUFFIXES, ".txt files")
    notes = ignored_note(ignored, root, ".txt")
    texts, kept_labels, names, replaced, unreadable = [], [], [], [], []
    for file, label in zip(files, labels, strict=True):
        try:
            text, lossy = decode_text_file(file)
        except EdgeInputError as error:
            unreadable.append(str(error))
            continue
        except OSError as error:
            unreadable.append(f"'{file}' cannot be read ({error.strerror}).")
            continue
        if lossy:
            replaced.append(file)
        texts.append(text)
        kept_labels.append(class_names[label])
        names.append(str(file.relative_to(root)))
    notes += skip_unreadable(
        unreadable, root, "text", "cannot be used as texts", config.skip_corrupt
    )
    if replaced:
        notes.append(
            f"{len(replaced)} file(s) were not valid UTF-8; their undecodable bytes were replaced "
            f"with U+FFFD: {name_files(replaced, root)}. Re-save them as UTF-8 to keep them."
        )
    present = set(kept_labels)
    lost = [name for name in class_names if name not in present]
    if lost:
        raise DataError(
            f"The class folder(s) {lost} in '{root}' hold no readable text files. Add .txt files "
            "to them or remove the folders."
        )
    return label_texts(texts, kept_labels, uri, config, seed, notes, names)


def load_text_csv(uri: str, path: str, config: DataConfig, seed: int) -> Dataset:
    """`csv:PATH` for text: the texts in column `data.text`, their classes in `data.target`.

    Args:
        uri: the dataset URI.
        path: the CSV file.
        config: the data section.
        seed: seeds the split.

    Returns:
        The dataset.

    Raises:
        DataError: for a missing column or rows without a class.
    """
    if config.text is None or config.target is None:
        raise DataError(
            f"{uri}: a text task needs data.text (the column holding the texts) and data.target "
            "(the column holding their classes)."
        )
    frame = read_csv_table(Path(path).expanduser(), config.encoding)
    columns = [str(c) for c in frame.columns]
    for option, column in (("text", config.text), ("target", config.target)):
        if column not in frame.columns:
            raise DataError(
                f"data.{option}: the CSV file '{path}' has no column '{column}'. Its columns: "
                f"{name_some(columns)}." + (closest_hint(column, columns) or header_hint(columns))
            )
    missing = frame.index[frame[config.target].isna()]
    if len(missing):
        lines = name_some([str(line) for line in missing], _MAX_NAMED)
        raise DataError(
            f"{len(missing)} row(s) of '{path}' have no value in the target column "
            f"'{config.target}' (lines {lines}). Fill them in or remove the rows."
        )
    texts = [None if pd.isna(value) else str(value) for value in frame[config.text]]
    replaced = sum("\ufffd" in text for text in texts if text)
    notes = []
    if replaced:
        notes.append(
            f"{replaced} text(s) held bytes that are not UTF-8, replaced with U+FFFD. "
            "Re-save the file as UTF-8 to keep them."
        )
    targets = [_class_text(value) for value in frame[config.target]]
    names = [f"line {line}" for line in frame.index]
    return label_texts(texts, targets, uri, config, seed, notes, names)


def _class_text(value: Any) -> str:
    """A class value as text; integer-valued floats lose their `.0` (pandas reads 1 as 1.0
    in a column with gaps)."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
