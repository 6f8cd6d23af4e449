"""Text classification: a text in, one probability per class out.

The tokenizer (Keras `TextVectorization`, adapted on the train split by the
data layer, see `data.text`) runs in the input pipeline, not in the
model: string ops are not LiteRT builtins, so a model holding the tokenizer
would need Flex on the device. Every model therefore takes `token_ids`
(int32, padded with 0) and starts with a `token_embedding` layer whose
output is zeroed at padding positions (`ZeroPadding`), so a padded position
and a deleted token look the same: a zero vector. Integrated Gradients on
token embeddings integrates from that zero vector (`explain.tokens`).
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
import pandas as pd
import tensorflow as tf
from keras import layers

from tasklab.core.model_options import (
    BiGRUOptions,
    CNNOptions,
    TextModelOptions,
    TransformerOptions,
)
from tasklab.core.registry import Registry
from tasklab.data.base import DataSpec, Split
from tasklab.data.text import TEXT_COLUMN, TextSchema
from tasklab.tasks.base import ClassificationTask, ModelSpec, classifier_head, register_task

TEXT_MODELS: Registry[ModelSpec] = Registry("text_classification model")
TOKEN_IDS = "token_ids"
EMBEDDING_LAYER = "token_embedding"
_SERIALIZABLE_PACKAGE = "tasklab"


@keras.saving.register_keras_serializable(package=_SERIALIZABLE_PACKAGE)
class ZeroPadding(layers.Layer):
    """Zeroes the embeddings of padding positions (token id 0)."""

    def call(self, embeddings, token_ids):
        keep = keras.ops.cast(keras.ops.not_equal(token_ids, 0), embeddings.dtype)
        return embeddings * keras.ops.expand_dims(keep, -1)


@keras.saving.register_keras_serializable(package=_SERIALIZABLE_PACKAGE)
class MaskedMean(layers.Layer):
    """The mean of the vectors at non-padding positions (zero for an all-padding text)."""

    def call(self, vectors, token_ids):
        keep = keras.ops.cast(keras.ops.not_equal(token_ids, 0), vectors.dtype)
        total = keras.ops.sum(vectors * keras.ops.expand_dims(keep, -1), axis=1)
        count = keras.ops.maximum(keras.ops.sum(keep, axis=1, keepdims=True), 1.0)
        return total / count


@keras.saving.register_keras_serializable(package=_SERIALIZABLE_PACKAGE)
class PositionEmbedding(layers.Layer):
    """Adds a learned embedding of each position to the token embeddings.

    Args:
        sequence_length: the number of positions.
    """

    def __init__(self, sequence_length: int, **kwargs):
        super().__init__(**kwargs)
        self.sequence_length = sequence_length

    def build(self, input_shape):
        self.positions = self.add_weight(
            name="positions",
            shape=(self.sequence_length, input_shape[-1]),
            initializer=keras.initializers.RandomNormal(stddev=0.02),
        )

    def call(self, embeddings):
        return embeddings + keras.ops.cast(self.positions, embeddings.dtype)

    def get_config(self):
        return {**super().get_config(), "sequence_length": self.sequence_length}


@keras.saving.register_keras_serializable(package=_SERIALIZABLE_PACKAGE)
class EncoderBlock(layers.Layer):
    """A pre-norm Transformer encoder block: self-attention over non-padding tokens, then an MLP.

    Args:
        heads: attention heads.
        ff_dim: hidden units of the MLP.
        dropout: dropout on the attention and MLP outputs.
    """

    def __init__(self, heads: int, ff_dim: int, dropout: float, **kwargs):
        super().__init__(**kwargs)
        self.heads, self.ff_dim, self.dropout = heads, ff_dim, dropout

    def build(self, input_shape):
        width = input_shape[-1]
        self.attention_norm = layers.LayerNormalization(epsilon=1e-6)
        self.attention = layers.MultiHeadAttention(
            self.heads, max(1, width // self.heads), dropout=self.dropout
        )
        self.mlp_norm = layers.LayerNormalization(epsilon=1e-6)
        self.hidden = layers.Dense(self.ff_dim, activation="gelu")
        self.project = layers.Dense(width)
        self.drop = layers.Dropout(self.dropout)
        self.attention_norm.build(input_shape)
        self.attention.build(input_shape, input_shape)
        self.mlp_norm.build(input_shape)
        self.hidden.build(input_shape)
        self.project.build((*input_shape[:-1], self.ff_dim))

    def call(self, x, token_ids, training=None):
        keep = keras.ops.not_equal(token_ids, 0)
        # (batch, 1, keys): every query attends to the non-padding keys only.
        mask = keras.ops.expand_dims(keep, 1)
        normed = self.attention_norm(x)
        x = x + self.drop(
            self.attention(normed, normed, attention_mask=mask, training=training),
            training=training,
        )
        return x + self.drop(self.project(self.hidden(self.mlp_norm(x))), training=training)

    def get_config(self):
        return {
            **super().get_config(),
            "heads": self.heads,
            "ff_dim": self.ff_dim,
            "dropout": self.dropout,
        }


def text_schema(spec: DataSpec) -> TextSchema:
    """The fitted tokenizer of a text spec."""
    return spec.schema


def embedded_tokens(
    options: TextModelOptions, spec: DataSpec
) -> tuple[keras.KerasTensor, keras.KerasTensor]:
    """The token-id input and its embeddings, zero at padding positions."""
    schema = text_schema(spec)
    token_ids = keras.Input(shape=(schema.sequence_length,), dtype="int32", name=TOKEN_IDS)
    embeddings = layers.Embedding(
        len(schema.vocabulary), options.embedding_dim, name=EMBEDDING_LAYER
    )(token_ids)
    return token_ids, ZeroPadding(name="zero_padding")(embeddings, token_ids)


def build_embedding_bag(options: TextModelOptions, spec: DataSpec) -> keras.Model:
    """fastText-style: the mean of the token embeddings, then a linear softmax classifier.

    Joulin et al., "Bag of Tricks for Efficient Text Classification", 2016;
    with character n-gram tokens it is a strong language identifier.
    """
    token_ids, x = embedded_tokens(options, spec)
    x = MaskedMean(name="mean_of_tokens")(x, token_ids)
    return keras.Model(token_ids, classifier_head(x, spec, options.dropout), name="embedding_bag")


def build_cnn(options: CNNOptions, spec: DataSpec) -> keras.Model:
    """Parallel 1-D convolutions of several widths, each max-pooled over the text (Kim, 2014)."""
    token_ids, x = embedded_tokens(options, spec)
    pooled = [
        layers.GlobalMaxPooling1D()(
            layers.Conv1D(options.filters, width, padding="same", activation="relu")(x)
        )
        for width in options.kernel_sizes
    ]
    x = pooled[0] if len(pooled) == 1 else layers.Concatenate()(pooled)
    return keras.Model(token_ids, classifier_head(x, spec, options.dropout), name="cnn")


def build_bigru(options: BiGRUOptions, spec: DataSpec) -> keras.Model:
    """A bidirectional GRU over the first `max_steps` tokens, unrolled so LiteRT needs no loop."""
    token_ids, x = embedded_tokens(options, spec)
    steps = min(options.max_steps, text_schema(spec).sequence_length)
    if steps < text_schema(spec).sequence_length:
        x = layers.Cropping1D((0, text_schema(spec).sequence_length - steps))(x)
    x = layers.Bidirectional(layers.GRU(options.units, unroll=True), name="bigru")(x)
    return keras.Model(token_ids, classifier_head(x, spec, options.dropout), name="bigru")


def build_transformer(options: TransformerOptions, spec: DataSpec) -> keras.Model:
    """Learned positions, pre-norm encoder blocks with padding-masked attention, mean pooling."""
    token_ids, x = embedded_tokens(options, spec)
    x = PositionEmbedding(text_schema(spec).sequence_length, name="positions")(x)
    for block in range(options.blocks):
        x = EncoderBlock(options.heads, options.ff_dim, options.dropout, name=f"encoder_{block}")(
            x, token_ids
        )
    x = layers.LayerNormalization(epsilon=1e-6)(x)
    x = MaskedMean(name="mean_of_tokens")(x, token_ids)
    return keras.Model(token_ids, classifier_head(x, spec, options.dropout), name="transformer")


TEXT_MODELS.register("embedding_bag")(
    ModelSpec(
        build_embedding_bag,
        TextModelOptions,
        "fastText-style mean of token embeddings and a linear classifier (default)",
    )
)
TEXT_MODELS.register("cnn")(
    ModelSpec(build_cnn, CNNOptions, "1-D convolutions of several widths, max-pooled")
)
TEXT_MODELS.register("bigru")(
    ModelSpec(build_bigru, BiGRUOptions, "a bidirectional GRU, unrolled over a fixed length")
)
TEXT_MODELS.register("transformer")(
    ModelSpec(build_transformer, TransformerOptions, "a small Transformer encoder")
)


@register_task
class TextClassification(ClassificationTask):
    """Classifies texts into the dataset's classes."""

    name = "text_classification"
    data_kind = "text"
    models = TEXT_MODELS
    default_model = "embedding_bag"
    explain_input = "tokens"
    explain_methods = ("token_integrated_gradients",)
    explain_examples = 16
    default_baselines = ("tfidf_xgboost", "tfidf_linear", "dummy")

    def __init__(self, model, spec):
        super().__init__(model, spec)
        self._vectorizer = text_schema(spec).vectorizer()

    def preprocess(self, x: tf.Tensor, y: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        """Tokenizes a text into `sequence_length` int32 ids (0: padding, 1: unknown)."""
        # Vectorized as a batch of one: a scalar text with no tokens (only punctuation)
        # would come back empty rather than padded.
        ids = self._vectorizer(tf.expand_dims(x, 0))[0]
        return tf.cast(ids, tf.int32), tf.cast(y, tf.int32)

    def edge_input(self) -> dict[str, Any]:
        """A raw text, tokenized as `TextVectorization` does (`tasklab.edge.text_tokens`)."""
        return {
            "kind": "text",
            **text_schema(self.spec).to_json(),
            "scaling": "none: feed the int32 token ids",
        }

    def reference_input(self) -> np.ndarray:
        """An all-padding text: the model sees zero embeddings everywhere."""
        return np.zeros(text_schema(self.spec).sequence_length, dtype=np.int32)

    def baseline_features(self, split: Split) -> pd.DataFrame:
        """The raw texts, one per row (baselines fit their own TF-IDF on the train texts)."""
        if split.frame is not None:
            return split.frame
        texts = [
            text.decode("utf-8", errors="replace")
            for batch, _ in split.make_dataset().batch(1024).as_numpy_iterator()
            for text in batch
        ]
        return pd.DataFrame({TEXT_COLUMN: texts})
