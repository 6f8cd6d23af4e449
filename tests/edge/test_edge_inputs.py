"""The device-side preprocessing gives exactly the training pipeline's model inputs."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from tasklab.core.config import parse_model_config
from tasklab.data.base import DataSpec
from tasklab.data.tabular import TabularEncoder, infer_column_kinds, read_csv_table
from tasklab.edge.edge_inputs import EdgeInputError, encode_row, load_image, read_csv_rows
from tasklab.tasks import get_task
from tests.conftest import tabular_spec, write_image

CSV = """city,rooms,floors,garden,income,label
Paris,3,1,yes,1200.5,a
Lyon,2,1,no,,b
Nice,4,2,yes,980,a
Paris,,1,,1500,b
Lyon,1,3,no,inf,a
Paris,3,2,yes,NA,b
Nice,2,1,no,1100,a
Paris,5,2,yes,1320,b
Lyon,2,1,no,870,a
Nice,4,2,yes,1010,b
"""
# Rows the encoder never saw: an unseen city and floor count, missing values everywhere,
# and integer categories spelled as floats ("2.0"; "rooms" is read as floats: it has gaps).
NEW_ROWS = """city,rooms,floors,garden,income,label
Berlin,3,9,yes,1000,a
,2,1,,,b
Nice,4.0,2.0,no,NaN,a
"""


def tabular_task(encoder: TabularEncoder, frame):
    features, _ = encoder.features(frame)
    spec = tabular_spec(features, ("a", "b"), encoder.columns_, tuple(encoder.feature_names()))
    name = "tabular_classification"
    return get_task(name)(parse_model_config(name, {}), spec)


def test_raw_csv_rows_encode_exactly_as_the_training_encoder(tmp_path):
    train_file, new_file = tmp_path / "train.csv", tmp_path / "new.csv"
    train_file.write_text(CSV)
    new_file.write_text(NEW_ROWS)
    train = read_csv_table(train_file)
    inputs = train.drop(columns=["label"])
    kinds = infer_column_kinds(inputs, {"rooms": "categorical"})
    assert [kind for kind, _ in kinds.values()] == [
        "categorical", "categorical", "categorical", "boolean", "numeric"
    ]  # fmt: skip
    encoder = TabularEncoder(kinds).fit(inputs)
    columns = tabular_task(encoder, inputs).edge_input()["columns"]
    for path in (train_file, new_file):
        frame = read_csv_table(path).drop(columns=["label"])
        expected, _ = encoder.features(frame)
        encoded = np.stack([encode_row(row, columns) for row in read_csv_rows(path, columns)])
        np.testing.assert_array_equal(encoded, expected)


def test_csv_errors_name_the_column(tmp_path):
    columns = [{"name": "income", "kind": "numeric", "fill_value": 0.0, "indicator": False}]
    path = tmp_path / "rows.csv"
    path.write_text("salary\n100\n")
    with pytest.raises(EdgeInputError, match=r"lacks the column\(s\) \['income'\]"):
        list(read_csv_rows(path, columns))
    with pytest.raises(EdgeInputError, match="Column 'income' is numeric but holds 'lots'"):
        encode_row({"income": "lots"}, columns)


def test_an_image_file_becomes_the_preprocessed_model_input(tmp_path):
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, size=(12, 10, 3), dtype=np.uint8)
    path = write_image(tmp_path / "photo.png", pixels)
    spec = DataSpec("image", ("a", "b"), (12, 10, 3))
    task = get_task("image_classification")(parse_model_config("image_classification", {}), spec)
    expected, _ = task.preprocess(tf.constant(pixels), tf.constant(0))
    described = task.edge_input()
    np.testing.assert_array_equal(load_image(path, described), expected.numpy())
    gray = load_image(path, {**described, "channels": 1})
    assert gray.shape == (12, 10, 1) and gray.dtype == np.float32
    resized = load_image(path, {**described, "height": 6, "width": 5})
    assert resized.shape == (6, 5, 3)


def test_an_unreadable_image_is_named(tmp_path):
    path = tmp_path / "broken.png"
    path.write_bytes(b"\x89PNG broken")
    with pytest.raises(EdgeInputError, match=r"broken\.png' is not a readable image"):
        load_image(path, {"height": 8, "width": 8, "channels": 1})
