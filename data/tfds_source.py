"""`tfds:NAME[/CONFIG]`: a TensorFlow Datasets dataset, with its own splits where it has them."""

from __future__ import annotations

import hashlib
import urllib.parse

import numpy as np
import requests
import tensorflow as tf
import tensorflow_datasets as tfds

from tasklab.core.config import DataConfig
from tasklab.core.registry import closest_hint
from tasklab.data.audio import audio_spec
from tasklab.data.base import DataError, Dataset, DataSpec, Split, split_indices
from tasklab.data.text import fit_text_schema, text_spec, token_counts, truncation_note

_SHUFFLE_BUFFER = 10_000
# Seconds to wait for a download host to answer before calling it unreachable.
_REACH_TIMEOUT_S = 5
_FEATURE_KINDS = {
    tfds.features.Image: "image",
    tfds.features.Text: "text",
    tfds.features.Audio: "audio",
}


def load_tfds(uri: str, name: str, config: DataConfig, seed: int, kind: str | None) -> Dataset:
    """Loads a supervised image, text or audio dataset from TensorFlow Datasets.

    Uses the dataset's own `test` (and `validation`) split when its info lists
    them; whatever it lacks is carved, stratified and seeded, from `train`
    (`data.val_fraction` of `train` when the dataset has its own test split;
    `data.test_fraction` only when it has none). A text dataset's tokenizer
    is adapted on the train split; an audio dataset must be recorded at
    `data.audio.sample_rate` (its clips are padded or cropped by the task).

    Args:
        uri: the dataset URI, for messages.
        name: the tfds name, optionally with `/CONFIG` or `:VERSION`.
        config: the data section (fractions, `tfds_data_dir`, tokenizer).
        seed: seeds the split.
        kind: the kind of input the task takes (None: whatever the dataset holds).

    Returns:
        The dataset; its splits stream from tfds's files.

    Raises:
        DataError: when the dataset is not prepared in the data dir and cannot
            be downloaded (offline), or cannot be used by the task.
    """
    builder = tfds_builder(name, config.tfds_data_dir)
    prepare_builder(builder, name)
    info = builder.info
    if not info.supervised_keys:
        raise DataError(f"The tfds dataset '{name}' has no supervised (input, label) keys.")
    input_key, label_key = info.supervised_keys[:2]
    found = _input_kind(info.features[input_key])
    if found is None:
        raise DataError(
            f"The tfds dataset '{name}' has {type(info.features[input_key]).__name__} inputs; "
            f"supported are {list(_FEATURE_KINDS.values())} inputs."
        )
    if kind is not None and found != kind:
        raise DataError(
            f"The tfds dataset '{name}' holds {found} inputs, but the task takes {kind} inputs. "
            "Choose a task that matches."
        )
    val_fraction, test_fraction = config.val_fraction, config.test_fraction
    class_names = tuple(info.features[label_key].names)
    # Checked before any reading: a wrong sample rate fails fast.
    audio = (
        _audio_spec(name, info.features[input_key], class_names, config)
        if found == "audio"
        else None
    )
    available = set(info.splits.keys())
    own = [split for split in ("validation", "test") if split in available]
    labels = {split: _read_labels(builder, split, input_key) for split in ("train", *own)}
    # Carve from `train` whatever the dataset does not provide, in (val, test) order.
    carved = [
        fraction
        for split, fraction in (("validation", val_fraction), ("test", test_fraction))
        if split not in own
    ]
    parts = iter(split_indices(labels["train"], carved, seed, class_names))
    train = _stream_split(builder, "train", labels["train"], next(parts))
    held_out = {
        split: _stream_split(builder, split, labels[split], None)
        if split in own
        else _stream_split(builder, "train", labels["train"], next(parts))
        for split in ("validation", "test")
    }
    notes = [f"Uses the dataset's own '{split}' split." for split in own]
    if "test" in own:
        notes.append("data.test_fraction is not used: the dataset has its own test split.")
    sizes = {split: len(split_labels) for split, split_labels in labels.items()}
    identity = f"tfds:{info.full_name}:{sorted(sizes.items())}"
    if found == "text":
        spec, text_notes = _text_spec(train, class_names, config)
        notes.extend(text_notes)
    elif audio is not None:
        spec = audio
    else:
        spec = DataSpec(
            kind="image", class_names=class_names, example_shape=info.features[input_key].shape
        )
    return Dataset(
        uri=uri,
        spec=spec,
        train=train,
        val=held_out["validation"],
        test=held_out["test"],
        fingerprint=hashlib.sha256(identity.encode()).hexdigest(),
        notes=tuple(notes),
    )


def _input_kind(feature: tfds.features.FeatureConnector) -> str | None:
    for feature_class, kind in _FEATURE_KINDS.items():
        if isinstance(feature, feature_class):
            return kind
    return None


def _text_spec(
    train: Split, class_names: tuple[str, ...], config: DataConfig
) -> tuple[DataSpec, list[str]]:
    """Adapts the tokenizer on the train split's texts; notes what it truncates."""
    texts = train.make_dataset().map(lambda text, label: text)
    schema = fit_text_schema(texts, config.tokenizer)
    notes = [schema.summary()]
    truncated = truncation_note(token_counts(texts, schema), schema.sequence_length)
    if truncated:
        notes.append(f"Train split: {truncated}")
    return text_spec(schema, class_names), notes


def _audio_spec(
    name: str, feature: tfds.features.Audio, class_names: tuple[str, ...], config: DataConfig
) -> DataSpec:
    """The clips' spec; the recordings' rate must be the configured one (no resampling in tf)."""
    rate = feature.sample_rate
    if rate is not None and rate != config.audio.sample_rate:
        raise DataError(
            f"The tfds dataset '{name}' is recorded at {rate} Hz, but data.audio.sample_rate is "
            f"{config.audio.sample_rate}. Set data.audio.sample_rate: {rate}."
        )
    return audio_spec(class_names, config.audio)


def tfds_builder(name: str, data_dir: str | None) -> tfds.core.DatasetBuilder:
    """The builder of a tfds dataset (nothing is downloaded or prepared yet).

    Args:
        name: the tfds name, optionally with `/CONFIG` or `:VERSION`.
        data_dir: where tfds keeps prepared data (None: its default).

    Returns:
        The builder.

    Raises:
        DataError: when tfds has no such dataset, suggesting the closest name.
    """
    try:
        return tfds.builder(name, data_dir=data_dir)
    except tfds.core.registered.DatasetNotFoundError:
        base = name.split("/")[0].split(":")[0]
        raise DataError(
            f"TensorFlow Datasets has no dataset named '{base}'. See `tfds.list_builders()`."
            + closest_hint(base, tfds.list_builders())
        ) from None


def prepare_builder(builder: tfds.core.DatasetBuilder, name: str) -> None:
    """Downloads and prepares the dataset unless it is prepared; fails fast when offline.

    tfds retries a failed connection ten times with exponential backoff, about
    3.5 minutes, before it raises. So, just before tfds generates the dataset
    (never when it is already prepared, nor under `tfds.testing.mock_data`), one
    request without retries goes to each host the dataset downloads from.

    Args:
        builder: the dataset's builder.
        name: the tfds name, for messages.

    Raises:
        DataError: when the dataset is not prepared and its files cannot be downloaded.
    """
    generate = builder._download_and_prepare

    def generate_if_reachable(**kwargs):
        _check_reachable(builder)
        return generate(**kwargs)

    # An attribute of this builder only: tfds's class and other builders are untouched.
    builder._download_and_prepare = generate_if_reachable
    try:
        builder.download_and_prepare()
    except (requests.RequestException, tfds.download.DownloadError) as error:
        raise DataError(_not_prepared_message(builder, name, _download_failure(error))) from None


def _check_reachable(builder: tfds.core.DatasetBuilder) -> None:
    """Sends one request, without retries, to each HTTP host of the dataset's known URLs.

    The URLs are those of the dataset's checksums file (most tfds datasets have
    one); a dataset without it is left to tfds's own retries. `requests` is what
    tfds downloads with, so proxies and CA bundles from the environment apply.

    Args:
        builder: the dataset's builder.

    Raises:
        requests.RequestException: when a host cannot be reached.
    """
    by_host = {}
    for url in builder.url_infos or {}:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme in ("http", "https"):
            by_host.setdefault(parts.netloc, url)
    for url in by_host.values():
        # Any HTTP answer proves the host reachable (some refuse HEAD): no status check.
        requests.head(url, timeout=_REACH_TIMEOUT_S, allow_redirects=False)


def _download_failure(error: Exception) -> str:
    """Says in a few words why a download failed: the host (or the proxy) and the reason."""
    if isinstance(error, tfds.download.DownloadError):
        return str(error)
    request = getattr(error, "request", None)
    host = urllib.parse.urlsplit(request.url).netloc if request is not None else None
    where = "the proxy" if isinstance(error, requests.exceptions.ProxyError) else host
    if isinstance(error, requests.exceptions.Timeout):
        reason = f"no answer within {_REACH_TIMEOUT_S} s"
    else:
        innermost = _innermost(error)
        reason = getattr(innermost, "strerror", None) or str(innermost)
    return f"{where}: {reason}" if where else reason


def _innermost(error: BaseException) -> BaseException:
    """The root of an exception chain (urllib3 keeps the cause of its retries in `reason`)."""
    seen = {id(error)}
    while True:
        inner = getattr(error, "reason", None)
        if not isinstance(inner, BaseException):
            inner = error.__cause__ or error.__context__
        if inner is None or id(inner) in seen:
            return error
        seen.add(id(inner))
        error = inner


def _not_prepared_message(builder: tfds.core.DatasetBuilder, name: str, failure: str) -> str:
    """One line: what is missing where, why it could not be downloaded, and where to put it."""
    data_dir = builder.data_dir_root
    folder = builder.name
    failure = " ".join(failure.split())  # One line, whatever the exception held.
    return (
        f"The tfds dataset '{name}' is not prepared in {data_dir} and could not be downloaded "
        f"({failure}). On a machine with network, run `tfds build {name} --data_dir DIR`, then "
        f"copy DIR/{folder}/ into {data_dir} or set data.tfds_data_dir to a directory that holds "
        f"{folder}/."
    )


def _read_labels(builder: tfds.core.DatasetBuilder, split: str, input_key: str) -> np.ndarray:
    """Reads the labels of a split without decoding its inputs."""
    dataset = builder.as_dataset(
        split=split,
        as_supervised=True,
        shuffle_files=False,
        decoders={input_key: tfds.decode.SkipDecoding()},
    )
    # Labels only: undecoded inputs may still differ in shape (audio is stored as samples).
    labels = list(dataset.map(lambda _, label: label).batch(4096).as_numpy_iterator())
    return np.concatenate(labels).astype(np.int64) if labels else np.zeros(0, np.int64)


def _stream_split(
    builder: tfds.core.DatasetBuilder, split: str, labels: np.ndarray, indices: np.ndarray | None
) -> Split:
    """Makes a split over a tfds split, or over the subset `indices` of it."""
    mask = None
    if indices is not None:
        mask = np.zeros(len(labels), dtype=bool)
        mask[indices] = True
        labels = labels[indices]

    def make_dataset(shuffle_seed: int | None = None) -> tf.data.Dataset:
        dataset = builder.as_dataset(split=split, as_supervised=True, shuffle_files=False)
        if mask is not None:
            keep = tf.constant(mask)
            dataset = dataset.enumerate().filter(lambda i, example: tf.gather(keep, i))
            dataset = dataset.map(lambda i, example: example)
            # filter() hides the size; Keras needs it to know where an epoch ends.
            dataset = dataset.apply(tf.data.experimental.assert_cardinality(len(labels)))
        if shuffle_seed is not None:
            dataset = dataset.shuffle(
                min(len(labels), _SHUFFLE_BUFFER), seed=shuffle_seed, reshuffle_each_iteration=True
            )
        return dataset.map(lambda x, y: (x, tf.cast(y, tf.int64)))

    return Split(labels=labels, make_dataset=make_dataset, in_memory=False)
