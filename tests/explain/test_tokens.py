"""Token Integrated Gradients: exact on a linear bag of embeddings, complete on a real model."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from tasklab.edge.text_tokens import TextTokenizer
from tasklab.explain.base import PRE_SOFTMAX, ExplainOptions
from tasklab.explain.gradients import completeness_error
from tasklab.explain.tokens import EmbeddingSpace, highlight, token_integrated_gradients
from tasklab.tasks.text_classification import EMBEDDING_LAYER, MaskedMean, ZeroPadding
from tests.tasks.test_text_classification import make_task, token_ids


def linear_bag(vocabulary: int, width: int, sequence_length: int) -> keras.Model:
    """f(ids) = w . mean of the token embeddings (no softmax): IG from zero is exact."""
    ids = keras.Input((sequence_length,), dtype="int32")
    embeddings = keras.layers.Embedding(vocabulary, width, name=EMBEDDING_LAYER)(ids)
    mean = MaskedMean()(ZeroPadding()(embeddings, ids), ids)
    return keras.Model(ids, keras.layers.Dense(1)(mean))


def test_a_linear_bag_gives_each_token_its_share_exactly():
    keras.utils.set_random_seed(0)
    model = linear_bag(vocabulary=10, width=4, sequence_length=6)
    ids = np.array([[3, 5, 5, 2, 0, 0], [9, 1, 0, 0, 0, 0]], dtype=np.int32)
    attributions = token_integrated_gradients(
        model, ids, np.zeros(2, dtype=int), ExplainOptions(ig_steps=4)
    )
    table = model.get_layer(EMBEDDING_LAYER).embeddings.numpy()
    weights = model.layers[-1].get_weights()[0][:, 0]
    counts = (ids != 0).sum(axis=1, keepdims=True)
    expected = np.where(ids != 0, table[ids] @ weights / counts, 0.0)
    np.testing.assert_allclose(attributions.values, expected, atol=1e-5)
    assert attributions.extras["steps"].tolist() == [4, 4]


def test_attributions_of_a_text_model_are_complete_and_zero_on_padding():
    keras.utils.set_random_seed(0)
    task = make_task(name="transformer", embedding_dim=16, heads=2)
    model = task.build_model()
    ids = token_ids(task)
    targets = model.predict(ids, verbose=0).argmax(axis=1)
    attributions = token_integrated_gradients(model, ids, targets, ExplainOptions(ig_steps=32))
    assert attributions.values.shape == ids.shape
    assert (attributions.values[ids == 0] == 0).all()
    assert completeness_error(attributions).max() < 0.05
    # The explained output is the target's pre-softmax score: its softmax is the model's output.
    assert attributions.output_space == PRE_SOFTMAX
    logits = space_logits(model, ids)
    np.testing.assert_allclose(
        attributions.outputs, logits[np.arange(len(ids)), targets], rtol=1e-5
    )


def test_a_model_without_the_embedding_layer_is_named():
    inputs = keras.Input((3,), dtype="int32")
    model = keras.Model(inputs, keras.layers.Embedding(5, 2, name="other")(inputs))
    with pytest.raises(ValueError, match="no layer named 'token_embedding'"):
        EmbeddingSpace(model, EMBEDDING_LAYER)


def char_tokenizer(sequence_length: int) -> TextTokenizer:
    return TextTokenizer(
        {
            "mode": "char",
            "ngrams": 2,
            "sequence_length": sequence_length,
            "standardize": "lower",
            "vocabulary": ["", "[UNK]"],
        }
    )


def test_highlight_shares_an_ngram_among_its_characters():
    # Tokens of "Abc": a, b, c, "a b", "b c" (width by width).
    shown = highlight("Abc", np.array([1.0, 2.0, 3.0, 4.0, 6.0, 0.0]), char_tokenizer(6))
    assert shown == [["a", 3.0], ["b", 7.0], ["c", 6.0]]


def space_logits(model: keras.Model, ids: np.ndarray) -> np.ndarray:
    space = EmbeddingSpace(model, EMBEDDING_LAYER)
    logits = np.asarray(space.head([tf.constant(space.embeddings(ids)), tf.constant(ids)]))
    np.testing.assert_allclose(tf.nn.softmax(logits), model(ids), rtol=1e-5, atol=1e-7)
    return logits


def test_highlight_gives_truncated_tokens_nothing():
    shown = highlight("Abc", np.array([1.0, 2.0, 3.0, 4.0]), char_tokenizer(4))
    assert shown == [["a", 3.0], ["b", 4.0], ["c", 3.0]]


def test_embedding_space_splits_the_model_at_its_embeddings():
    keras.utils.set_random_seed(0)
    task = make_task()
    model = task.build_model()
    ids = token_ids(task)
    space = EmbeddingSpace(model, EMBEDDING_LAYER)
    embeddings = space.embeddings(ids)
    # The head gives the pre-softmax scores Integrated Gradients explains.
    assert space.output_space == PRE_SOFTMAX
    logits = space.head([tf.constant(embeddings), tf.constant(ids)])
    np.testing.assert_allclose(tf.nn.softmax(logits), model(ids), rtol=1e-5, atol=1e-7)
