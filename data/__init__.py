"""Dataset URIs -> `Dataset` (train/val/test splits as tf.data, labels, class names).

Schemes: `builtin:NAME` (offline data, see `tasklab datasets`), `folder:PATH`
(one sub-folder per class; for segmentation, `images/` and `masks/`),
`tfds:NAME[/CONFIG]` (TensorFlow Datasets; for segmentation, the datasets
`data.tfds_segmentation` knows) and
`csv:PATH` (a table with a header row; `data.target` names the target column).
"""

from __future__ import annotations

from tasklab.core.catalog import DATA_SCHEMES
from tasklab.core.config import ConfigError, DataConfig
from tasklab.core.problems import CLASSIFICATION, Problem, problem_named
from tasklab.core.registry import closest_hint
from tasklab.data.base import DataError, Dataset, DataSpec, Split, split_indices
from tasklab.data.builtin import BUILTIN_DATASETS

SCHEMES = DATA_SCHEMES

__all__ = [
    "BUILTIN_DATASETS",
    "SCHEMES",
    "DataError",
    "DataSpec",
    "Dataset",
    "Split",
    "load_dataset",
    "split_indices",
]


def load_dataset(
    config: DataConfig,
    seed: int,
    problem: Problem | str = CLASSIFICATION,
    kind: str | None = None,
) -> Dataset:
    """Resolves `config.uri` and returns its seeded train/val/test splits.

    Args:
        config: the data section of the run config.
        seed: seeds the splits.
        problem: what the task predicts (`core.problems`, or its name): classes
            (stratified splits, class labels) or values (float targets).
        kind: the kind of input the task takes (`image`, `tabular`, `text`, `audio`,
            `segmentation`); it decides how a `folder:`, `csv:` or `tfds:` source is
            read (default: images for folders, tables for CSV files).

    Returns:
        The dataset.

    Raises:
        ConfigError: for an unknown scheme or built-in name.
        DataError: when the data cannot be used (missing, empty, corrupt...).
    """
    problem = problem_named(problem)
    scheme, _, rest = config.uri.partition(":")
    fractions = (config.val_fraction, config.test_fraction)
    if scheme == "builtin":
        try:
            builtin = BUILTIN_DATASETS.get(rest)
        except LookupError as error:
            raise ConfigError(f"data.uri: {error} See `tasklab datasets`.") from None
        if builtin.problem != problem.name:
            raise ConfigError(
                f"{config.uri} is a {builtin.problem} dataset, but the task does {problem.name}. "
                "Choose a task that matches (see `tasklab datasets`)."
            )
        if kind is not None and builtin.kind != kind:
            raise ConfigError(
                f"{config.uri} holds {builtin.kind} data, but the task takes {kind} data. "
                "Choose a task that matches (see `tasklab datasets`)."
            )
        return builtin.load(config.uri, config, seed)
    if scheme == "folder" and kind == "audio":
        from tasklab.data.audio import load_audio_folder

        return load_audio_folder(config.uri, rest, config, seed)
    if scheme == "folder" and kind == "segmentation":
        from tasklab.data.segmentation import load_segmentation_folder

        return load_segmentation_folder(config.uri, rest, config, seed, problem)
    if scheme == "folder" and kind == "text":
        from tasklab.data.text import load_text_folder

        return load_text_folder(config.uri, rest, config, seed)
    if scheme == "folder":
        from tasklab.data.folder import load_image_folder

        return load_image_folder(
            config.uri,
            rest,
            *fractions,
            seed,
            config.skip_corrupt,
            config.image,
            max_pixels=config.max_pixels,
        )
    if scheme == "tfds" and kind == "segmentation":
        from tasklab.data.tfds_segmentation import load_tfds_segmentation

        return load_tfds_segmentation(config.uri, rest, config, seed, problem)
    if scheme == "tfds":
        from tasklab.data.tfds_source import load_tfds

        return load_tfds(config.uri, rest, config, seed, kind)
    if scheme == "csv" and kind == "text":
        from tasklab.data.text import load_text_csv

        return load_text_csv(config.uri, rest, config, seed)
    if scheme == "csv":
        from tasklab.data.tabular import load_csv

        return load_csv(config.uri, rest, config, seed, problem)
    raise ConfigError(
        f"The data.uri scheme must be one of {list(SCHEMES)}. Received: '{scheme}' "
        f"(in '{config.uri}')." + closest_hint(scheme, list(SCHEMES))
    )
