"""The device-side tokenizer gives exactly `TextVectorization`'s ids."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from tasklab.core.config import DataConfig, TokenizerConfig
from tasklab.data import load_dataset
from tasklab.data.text import TEXT_COLUMN, fit_text_schema
from tasklab.edge.text_tokens import TextTokenizer

ODD_TEXTS = [
    "Hello, World!",
    "ÄÖÜ äöü ÉCOLE École",  # Only ASCII letters are lowercased, as tf.strings.lower does.
    "tabs\tand\nnew\x0blines\x0cand\rreturns",
    "no\u00a0break\u2003em\u3000ideographic\x1cfile-separator",  # Not ASCII whitespace: no split.
    "...!!!",  # Nothing left after stripping punctuation.
    "",
    "Привет, мир! Dobrý den. Cześć!",
    "emoji 🙂 and combining e\u0301",
    "word " * 80,
]


def keras_ids(schema, texts):
    return schema.vectorizer()(tf.constant(texts)).numpy()


@pytest.mark.parametrize("mode", ["word", "char"])
@pytest.mark.parametrize("ngrams", [1, 3])
@pytest.mark.parametrize(
    "standardize", ["lower_and_strip_punctuation", "lower", "strip_punctuation", "none"]
)
def test_odd_texts_get_identical_ids(mode, ngrams, standardize):
    config = TokenizerConfig(
        mode=mode, ngrams=ngrams, max_tokens=5000, sequence_length=40, standardize=standardize
    )
    schema = fit_text_schema(tf.data.Dataset.from_tensor_slices(ODD_TEXTS * 2), config)
    tokenizer = TextTokenizer(schema.to_json())
    expected = keras_ids(schema, ODD_TEXTS)
    got = np.stack([tokenizer(text) for text in ODD_TEXTS])
    np.testing.assert_array_equal(got, expected)
    assert got.dtype == np.int32 and (got == 1).sum() == 0  # All tokens were adapted on.


@pytest.mark.parametrize(
    ("uri", "tokenizer"),
    [
        ("builtin:fortunes_lang", TokenizerConfig(mode="char", ngrams=3, sequence_length=512)),
        ("builtin:fortunes_topics", TokenizerConfig(mode="word", ngrams=2)),
    ],
)
def test_identical_ids_on_the_whole_test_split(uri, tokenizer):
    dataset = load_dataset(DataConfig(uri=uri, tokenizer=tokenizer), 0, kind="text")
    texts = dataset.test.frame[TEXT_COLUMN].tolist()
    expected = np.concatenate(
        [
            keras_ids(dataset.spec.schema, texts[start : start + 2048])
            for start in range(0, len(texts), 2048)
        ]
    )
    device = TextTokenizer(dataset.spec.schema.to_json())
    got = np.stack([device(text) for text in texts])
    assert len(texts) > 2000
    np.testing.assert_array_equal(got, expected)
    assert (got == 1).any(), "the test split should hold tokens unseen in training"


def test_spans_list_ngrams_width_by_width():
    tokenizer = TextTokenizer(
        {
            "mode": "word",
            "ngrams": 2,
            "sequence_length": 4,
            "standardize": "none",
            "vocabulary": ["", "[UNK]", "a b"],
        }
    )
    assert tokenizer.spans(3) == [(0, 1), (1, 1), (2, 1), (0, 2), (1, 2)]
    assert tokenizer.tokens("a b c") == ["a", "b", "c", "a b", "b c"]
    assert tokenizer("a b c").tolist() == [1, 1, 1, 2]
