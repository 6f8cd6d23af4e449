"""Dataset URIs -> `Dataset` (train/val/test splits as tf.data, labels, class names).

Schemes: `builtin:NAME` (offline data, see `tasklab datasets`), `folder:PATH`
(one sub-folder per class) and `tfds:NAME[/CONFIG]` (TensorFlow Datasets).
"""

from __future__ import annotations

from pipelines.config import ConfigError, DataConfig
from pipelines.data.base import DataError, Dataset, DataSpec, Split, stratified_indices
from pipelines.data.builtin import BUILTIN_DATASETS
from pipelines.registry import closest_hint

SCHEMES = ("builtin", "folder", "tfds")

__all__ = [
    "BUILTIN_DATASETS",
    "SCHEMES",
    "DataError",
    "DataSpec",
    "Dataset",
    "Split",
    "load_dataset",
    "stratified_indices",
]


def load_dataset(config: DataConfig, seed: int) -> Dataset:
    """Resolves `config.uri` and returns its seeded train/val/test splits.

    Args:
        config: the data section of the run config.
        seed: seeds the splits.

    Returns:
        The dataset.

    Raises:
        ConfigError: for an unknown scheme or built-in name.
        DataError: when the data cannot be used (missing, empty, corrupt...).
    """
    scheme, _, rest = config.uri.partition(":")
    fractions = (config.val_fraction, config.test_fraction)
    if scheme == "builtin":
        try:
            builtin = BUILTIN_DATASETS.get(rest)
        except LookupError as error:
            raise ConfigError(f"data.uri: {error} See `tasklab datasets`.") from None
        return builtin.load(config.uri, *fractions, seed)
    if scheme == "folder":
        from pipelines.data.folder import load_image_folder

        return load_image_folder(config.uri, rest, *fractions, seed, config.skip_corrupt)
    if scheme == "tfds":
        from pipelines.data.tfds_source import load_tfds

        return load_tfds(config.uri, rest, *fractions, seed, config.tfds_data_dir)
    raise ConfigError(
        f"The data.uri scheme must be one of {list(SCHEMES)}. Received: '{scheme}' "
        f"(in '{config.uri}')." + closest_hint(scheme, list(SCHEMES))
    )
