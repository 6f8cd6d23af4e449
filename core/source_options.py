"""The settings specific to one data source, importable without TensorFlow.

Like the model options (`core.model_options`), they live beside the catalog
rather than in the module that implements the source: `core.config` checks
them when the config is read, before TensorFlow loads, and may not import
`tasklab.data`; the source reads the same dataclass. Each sits under its own
key of the `data` section.

`builtin:spoken_words` (made by `data.spoken_words`): `data.synthesis`, how
its clips are synthesized, and the Speech Commands word lists it speaks by default.

`builtin:textured_shapes` (made by `data.textured_shapes`): `data.scenes`, how
many scenes are drawn and what they hold.
"""

from __future__ import annotations

import dataclasses
from typing import Annotated, ClassVar

from annotated_types import Ge, Le, Len, MinLen

from tasklab.core.errors import ConfigError
from tasklab.core.sections import Distinct, Section, Why

KEYWORDS = ("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go")
# The Speech Commands dataset's auxiliary words: the "unknown" class speaks them.
UNKNOWN_WORDS = (
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
    "bed", "bird", "cat", "dog", "happy", "house", "marvin", "sheila", "tree", "wow",
)  # fmt: skip


@dataclasses.dataclass(frozen=True)
class SpokenWordsOptions(Section):
    """How `builtin:spoken_words` is synthesized with espeak-ng (cached on disk by these values).

    A speaker is one English accent (an espeak-ng voice such as `gmw/en-US`)
    spoken with one voice variant (`Alicia`, `m3`, ... or none): the variant
    sets the pitch, formants and timbre. Splits are by variant, so the test
    set's variants are never heard in training, in any accent.

    Attributes:
        keywords: the keyword classes.
        unknown_words: words the `unknown` class speaks.
        accents: espeak-ng English voices to use (default: every installed
            one that synthesizes; MBROLA voices need the `mbrola` program).
        variants: espeak-ng voice variants (default: all installed, plus none).
        renderings: clips per class and speaker, each at a speed and pitch
            drawn from `speeds` and `pitches`.
        speeds: speaking rates to draw from (words per minute).
        pitches: pitches to draw from (espeak-ng's 0..99).
        snr_db: `[low, high]` signal-to-noise ratio of the background noise
            mixed into every spoken clip (dB, drawn uniformly).
        seed: seeds the draws (speeds, pitches, placement, noise).
        cache_dir: where clips are cached (default `~/.cache/tasklab/spoken_words`).
    """

    where: ClassVar[str] = "data.synthesis"

    keywords: Annotated[tuple[str, ...], MinLen(1), Distinct()] = KEYWORDS
    unknown_words: Annotated[tuple[str, ...], MinLen(1)] = UNKNOWN_WORDS
    accents: tuple[str, ...] | None = None
    variants: tuple[str, ...] | None = None
    renderings: Annotated[int, Ge(1)] = 1
    speeds: Annotated[
        tuple[Annotated[int, Ge(80), Le(450), Why("words per minute")], ...], MinLen(1)
    ] = (120, 150, 180, 210)
    pitches: Annotated[tuple[Annotated[int, Ge(0), Le(99)], ...], MinLen(1)] = (25, 40, 55, 70)
    snr_db: Annotated[tuple[float, ...], Len(2, 2), Why("[low, high]")] = (5.0, 30.0)
    seed: int = 0
    cache_dir: str | None = None

    def check(self) -> None:
        clash = sorted(set(self.keywords) & set(self.unknown_words))
        if clash:
            raise ConfigError(
                "data.synthesis.unknown_words must hold no keyword. "
                f"Received: {list(self.unknown_words)} (keywords among them: {clash})."
            )
        if self.snr_db[0] > self.snr_db[1]:
            raise ConfigError(
                "data.synthesis.snr_db must be [low, high] with low <= high. "
                f"Received: {list(self.snr_db)}."
            )


@dataclasses.dataclass(frozen=True)
class TexturedShapesOptions(Section):
    """What `builtin:textured_shapes` draws (cached on disk by these values).

    Each scene is a textured, cluttered background with objects (discs, boxes,
    triangles) drawn over it, later ones occluding earlier ones; colours and
    textures are drawn alike for every class and the clutter.

    Attributes:
        scenes: how many scenes (images with their masks).
        size: their height and width in pixels.
        max_objects: objects per scene, drawn from 1 to this.
        clutter: strokes and blobs per scene, drawn from 0 to this.
        seed: seeds every scene (scene `i` is the same whatever `scenes` is).
        cache_dir: where scenes are cached (default `~/.cache/tasklab/textured_shapes`).
    """

    where: ClassVar[str] = "data.scenes"

    scenes: Annotated[int, Ge(12)] = 600
    size: Annotated[int, Ge(16), Le(1024)] = 64
    max_objects: Annotated[int, Ge(1), Le(12)] = 4
    clutter: Annotated[int, Ge(0)] = 12
    seed: int = 0
    cache_dir: str | None = None
