"""Token attributions for text models: Integrated Gradients on the token embeddings.

Token ids are discrete, so gradients with respect to them mean nothing; the
path runs in embedding space instead, from all-zero embeddings (what a
padding or deleted token becomes in every text model, see
`tasks.text_classification`) to the text's embeddings, with the token ids
(and so the padding mask) fixed. Each token's attribution is the sum over
its embedding dimensions, so completeness holds per text: the attributions
sum to f(text) - f(zero embeddings).

Also: how a text's tokens map back to its words or characters for display
(`highlight`), since a token may be an n-gram spanning several of them.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from tasklab.core.progress import Progress
from tasklab.edge.text_tokens import TextTokenizer
from tasklab.explain.base import Attributions, ExplainOptions, register_explainer
from tasklab.explain.gradients import integrated_gradients, pre_softmax
from tasklab.tasks.text_classification import EMBEDDING_LAYER

logger = logging.getLogger(__name__)


class EmbeddingSpace:
    """A text model split at its embedding layer: `head([embeddings, token_ids]) -> scores`.

    The head gives a classifier's pre-softmax scores (the model's output
    otherwise), the function Integrated Gradients explains; `output_space` says which.

    Args:
        model: a text model whose first layer after the input is named `layer`.
        layer: the embedding layer's name.

    Raises:
        ValueError: when the model has no such layer (not a tasklab text model).
    """

    def __init__(self, model: keras.Model, layer: str):
        try:
            embedding = model.get_layer(layer)
        except ValueError:
            raise ValueError(
                f"The model has no layer named '{layer}', so its token embeddings cannot be "
                "explained. Text models built by tasklab have one."
            ) from None
        self.embed = embedding
        # Integrated Gradients explains a classifier's pre-softmax score (see
        # `integrated_gradients`); the head is that score's function of the embeddings.
        self.head, self.output_space = pre_softmax(model, [embedding.output, model.inputs[0]])

    def embeddings(self, token_ids: np.ndarray) -> np.ndarray:
        """`(texts, sequence_length, width)` embeddings of the token ids."""
        return np.asarray(self.embed(tf.constant(token_ids, dtype=tf.int32)), dtype=np.float32)

    def for_text(self, token_ids: np.ndarray) -> _FixedTokens:
        """The model as a function of one text's embeddings (its token ids held fixed)."""
        return _FixedTokens(self.head, token_ids)


class _FixedTokens:
    """Calls the head on a batch of embeddings of one text, repeating its token ids."""

    def __init__(self, head: Any, token_ids: np.ndarray):
        self.head = head
        self.token_ids = tf.constant(np.asarray(token_ids)[np.newaxis], dtype=tf.int32)

    def __call__(self, embeddings: Any, training: bool = False) -> tf.Tensor:
        embeddings = tf.convert_to_tensor(embeddings, dtype=tf.float32)
        token_ids = tf.repeat(self.token_ids, tf.shape(embeddings)[0], axis=0)
        return self.head([embeddings, token_ids], training=training)


@register_explainer(
    "token_integrated_gradients",
    "keras",
    {"tokens"},
    "Integrated Gradients on the token embeddings, from zero embeddings, summed per token",
    sums_to="completeness",
)
def token_integrated_gradients(
    model: keras.Model, inputs: np.ndarray, targets: np.ndarray, options: ExplainOptions
) -> Attributions:
    """Integrated Gradients per token, one text at a time (its ids fix the padding mask).

    Args:
        model: a text model (token ids in, probabilities out).
        inputs: `(texts, sequence_length)` token ids.
        targets: the class explained per text.
        options: the IG settings (`ig_steps`, `ig_max_steps`, `ig_tolerance`, batch size).

    Returns:
        `(texts, sequence_length)` attributions (0 at padding); `base_values`
        holds f(zero embeddings) and `extras["steps"]` the intervals used.
    """
    started = time.perf_counter()
    space = EmbeddingSpace(model, EMBEDDING_LAYER)
    embeddings = space.embeddings(inputs)
    zero = np.zeros(embeddings.shape[1:], dtype=np.float32)
    values = np.zeros(inputs.shape, dtype=np.float32)
    base, outputs = np.empty(len(inputs)), np.empty(len(inputs))
    steps = np.empty(len(inputs), dtype=int)
    progress = Progress("Token Integrated Gradients", len(inputs), logger, min_interval=10)
    for index in range(len(inputs)):
        text = integrated_gradients(
            space.for_text(inputs[index]),
            embeddings[index : index + 1],
            targets[index : index + 1],
            options,
            baseline=zero,
        )
        values[index] = text.values[0].sum(axis=-1)
        base[index], outputs[index] = text.base_values[0], text.outputs[0]
        steps[index] = text.extras["steps"][0]
        progress.advance(f"text {index + 1}/{len(inputs)}")
    return Attributions(
        values=values,
        base_values=base,
        targets=np.asarray(targets),
        outputs=outputs,
        seconds_per_example=(time.perf_counter() - started) / len(inputs),
        promises_additivity=True,
        extras={"steps": steps},
        output_space=space.output_space,
    )


def highlight(text: str, attributions: np.ndarray, tokenizer: TextTokenizer) -> list[list[Any]]:
    """Spreads token attributions over the words (or characters) of a text, for display.

    A token that is an n-gram shares its attribution equally among the units
    it spans; units past the truncation get none.

    Args:
        text: the raw text.
        attributions: `(sequence_length,)` per-token attributions.
        tokenizer: the run's tokenizer (as the device runs it).

    Returns:
        `[unit, weight]` pairs in text order: the standardized words or
        characters and their share of the attributions.
    """
    units = tokenizer.units(text)
    weights = np.zeros(len(units))
    spans = tokenizer.spans(len(units))[: tokenizer.sequence_length]
    for position, (start, width) in enumerate(spans):
        weights[start : start + width] += attributions[position] / width
    return [[unit, float(weight)] for unit, weight in zip(units, weights, strict=True)]
