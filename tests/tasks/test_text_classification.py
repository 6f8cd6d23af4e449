"""Text models: padding never matters, the GRU reads its window, options are checked."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from tasklab.core.config import ConfigError, TokenizerConfig, parse_model_config
from tasklab.data.base import DataSpec
from tasklab.data.text import fit_text_schema
from tasklab.tasks import get_task

TEXTS = ["the cat sat", "a dog ran far away", "birds fly high above the trees", "fish swim"]


def text_spec(sequence_length: int = 12) -> DataSpec:
    config = TokenizerConfig(sequence_length=sequence_length)
    schema = fit_text_schema(tf.data.Dataset.from_tensor_slices(TEXTS), config)
    return DataSpec("text", ("x", "y"), (sequence_length,), schema)


def make_task(spec=None, **options):
    return get_task("text_classification")(
        parse_model_config("text_classification", options), spec or text_spec()
    )


def token_ids(task, texts=TEXTS) -> np.ndarray:
    return np.stack([task.preprocess(tf.constant(t), 0)[0].numpy() for t in texts])


@pytest.mark.parametrize("name", ["embedding_bag", "cnn", "bigru", "transformer"])
def test_the_padding_embedding_never_reaches_the_output(name):
    keras.utils.set_random_seed(0)
    task = make_task(name=name)
    model = task.build_model()
    ids = token_ids(task)
    assert (ids == 0).any()
    before = model.predict(ids, verbose=0)
    embedding = model.get_layer("token_embedding")
    table = embedding.embeddings.numpy()
    table[0] = 50.0  # Whatever the padding row holds, it must be zeroed.
    embedding.embeddings.assign(table)
    np.testing.assert_allclose(model.predict(ids, verbose=0), before, atol=1e-5)


def test_transformer_attends_to_real_tokens_only():
    keras.utils.set_random_seed(0)
    task = make_task(name="transformer", embedding_dim=16, heads=2)
    model = task.build_model()
    ids = token_ids(task)
    before = model.predict(ids, verbose=0)
    positions = model.get_layer("positions").positions
    values = positions.numpy()
    longest = int((ids != 0).sum(axis=1).max())
    values[longest:] = 100.0  # Positions only padding occupies: masked keys, unpooled queries.
    positions.assign(values)
    np.testing.assert_allclose(model.predict(ids, verbose=0), before, atol=1e-5)


def test_bigru_reads_its_first_max_steps_tokens_only():
    keras.utils.set_random_seed(0)
    task = make_task(name="bigru", max_steps=4)
    model = task.build_model()
    ids = token_ids(task)
    changed = ids.copy()
    changed[:, 4:] = 3
    np.testing.assert_allclose(model.predict(changed, verbose=0), model.predict(ids, verbose=0))
    changed[:, 0] = 3
    assert not np.allclose(model.predict(changed, verbose=0), model.predict(ids, verbose=0))


def test_preprocess_pads_truncates_and_marks_unknown_words():
    task = make_task(spec=text_spec(sequence_length=4))
    ids = token_ids(task, ["the cat sat", "zebra the", "birds fly high above the trees", "!!!"])
    assert ids.dtype == np.int32 and ids.shape == (4, 4)
    assert ids[0, 3] == 0 and ids[1, 0] == 1 and (ids[2] > 1).all() and (ids[3] == 0).all()


def test_edge_input_carries_the_tokenizer_and_reference_is_all_padding():
    task = make_task()
    described = task.edge_input()
    assert described["kind"] == "text" and described["vocabulary"][:2] == ["", "[UNK]"]
    assert json.loads(json.dumps(described)) == described
    assert task.reference_input().tolist() == [0] * 12


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"name": "transformer", "embedding_dim": 30, "heads": 4}, "multiple of model.heads"),
        ({"name": "cnn", "kernel_sizes": []}, "kernel_sizes"),
        ({"name": "bigru", "max_steps": 0}, "max_steps"),
        ({"name": "embedding_bag", "dropout": 1.0}, "dropout"),
    ],
)
def test_bad_model_options_are_named(options, message):
    with pytest.raises(ConfigError, match=message):
        parse_model_config("text_classification", options)
