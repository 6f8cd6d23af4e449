"""What tasklab offers by name, importable without TensorFlow: data schemes, built-in
datasets and baselines.

`tasklab datasets` lists the built-ins from here, and config validation checks
names against these tables in a moment, before TensorFlow loads. The modules
that implement them (`data.builtin`, `baselines.models`) register
under the same names; a test keeps them in step.
"""

from __future__ import annotations

import dataclasses

DATA_SCHEMES = ("builtin", "folder", "tfds", "csv")
MIN_TOPIC_FORTUNES = 400  # Topics with fewer English fortunes are left out of fortunes_topics.


@dataclasses.dataclass(frozen=True)
class BuiltinInfo:
    """What a built-in dataset holds.

    Attributes:
        kind: the kind of input (`image`, `tabular`, `text`, `audio`, `segmentation`).
        problem: `classification`, `regression` or `segmentation`.
        description: one line for `tasklab datasets`.
    """

    kind: str
    problem: str
    description: str


BUILTINS: dict[str, BuiltinInfo] = {
    "digits": BuiltinInfo(
        "image",
        "classification",
        "handwritten digits 0-9, 1,797 grayscale 8x8 images (scikit-learn)",
    ),
    "breast_cancer": BuiltinInfo(
        "tabular", "classification", "tumour malignant/benign from 30 cell measurements, 569 rows"
    ),
    "wine": BuiltinInfo(
        "tabular",
        "classification",
        "wine cultivar (3 classes) from 13 chemical measurements, 178 rows",
    ),
    "iris": BuiltinInfo(
        "tabular", "classification", "iris species (3 classes) from 4 flower measurements, 150 rows"
    ),
    "diabetes": BuiltinInfo(
        "tabular",
        "regression",
        "disease progression after one year from 10 measurements, 442 rows",
    ),
    "fortunes_lang": BuiltinInfo(
        "text",
        "classification",
        "language of a fortune (English, German, Spanish, Italian, Czech, Russian, Polish, ...), "
        "~89k texts from the Debian fortunes corpora",
    ),
    "fortunes_topics": BuiltinInfo(
        "text",
        "classification",
        f"topic file of an English fortune (topics with >= {MIN_TOPIC_FORTUNES} fortunes), ~11k "
        "texts from the Debian fortunes corpus",
    ),
    "spoken_words": BuiltinInfo(
        "audio",
        "classification",
        "10 spoken keywords plus unknown words and silence, synthesized offline with espeak-ng "
        "by every English accent and voice variant; split by voice",
    ),
    "textured_shapes": BuiltinInfo(
        "segmentation",
        "segmentation",
        "masks of discs, boxes and triangles (textured, occluding each other) on textured, "
        "cluttered backgrounds: 600 generated 64x64 scenes",
    ),
}

# The baselines registered in `baselines.models.BASELINES`.
BASELINE_NAMES = ("xgboost", "linear", "random_forest", "dummy", "tfidf_xgboost", "tfidf_linear")
