"""Raw text -> token ids in plain Python, exactly as Keras `TextVectorization` does.

The device side of the text pipeline: it reads the tokenizer described in
`preprocessing.json` (`TextSchema.to_json`) and never imports TensorFlow. A
test checks identical ids against `TextVectorization` on a whole test split.
What it reproduces, step by step (keras/src/layers/preprocessing/text_vectorization.py):

1. standardize: `tf.strings.lower` lowercases ASCII letters only; stripping
   punctuation removes the ASCII punctuation characters only;
2. split: on runs of ASCII whitespace (space, \\t, \\n, \\v, \\f, \\r), as
   `tf.strings.split` does, or into Unicode code points (`char`);
3. n-grams: all 1-grams, then all 2-grams, ... (`tf.strings.ngrams`), joined
   with a space;
4. lookup: the vocabulary's id, 1 for an unknown token; then truncated or
   padded with 0 to `sequence_length`.
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping
from typing import Any

import numpy as np

_ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)
_STRIP_PUNCTUATION = str.maketrans("", "", string.punctuation)
_ASCII_WHITESPACE = re.compile(r"[ \t\n\v\f\r]+")


class TextTokenizer:
    """Turns raw texts into the model's token ids.

    Args:
        spec: the `input` section of a text bundle's `preprocessing.json`
            (mode, ngrams, sequence_length, standardize, vocabulary, ...).
    """

    def __init__(self, spec: Mapping[str, Any]):
        self.mode = spec["mode"]
        self.ngrams = int(spec["ngrams"])
        self.sequence_length = int(spec["sequence_length"])
        self.standardize = spec["standardize"]
        self.separator = spec.get("ngram_separator", " ")
        self.padding_id = int(spec.get("padding_id", 0))
        self.oov_id = int(spec.get("oov_id", 1))
        self.vocabulary = list(spec["vocabulary"])
        # Id 0 is padding ('') and never a token; every other entry maps to its position.
        self._index = {token: i for i, token in enumerate(self.vocabulary) if i != self.padding_id}

    def standardized(self, text: str) -> str:
        """The text after the configured standardization."""
        if self.standardize in ("lower", "lower_and_strip_punctuation"):
            text = text.translate(_ASCII_LOWER)
        if self.standardize in ("strip_punctuation", "lower_and_strip_punctuation"):
            text = text.translate(_STRIP_PUNCTUATION)
        return text

    def units(self, text: str) -> list[str]:
        """The words (or characters) of the standardized text, before n-grams."""
        standardized = self.standardized(text)
        if self.mode == "char":
            return list(standardized)
        return [word for word in _ASCII_WHITESPACE.split(standardized) if word]

    def spans(self, unit_count: int) -> list[tuple[int, int]]:
        """`(start, width)` in units of each token, in token order, before truncation."""
        return [
            (start, width)
            for width in range(1, self.ngrams + 1)
            for start in range(unit_count - width + 1)
        ]

    def tokens(self, text: str) -> list[str]:
        """Every token of the text (all n-grams), before lookup and truncation."""
        units = self.units(text)
        return [self.separator.join(units[s : s + w]) for s, w in self.spans(len(units))]

    def __call__(self, text: str) -> np.ndarray:
        """The `(sequence_length,)` int32 token ids of one text."""
        ids = [self._index.get(token, self.oov_id) for token in self.tokens(text)]
        ids = ids[: self.sequence_length]
        ids += [self.padding_id] * (self.sequence_length - len(ids))
        return np.asarray(ids, dtype=np.int32)
