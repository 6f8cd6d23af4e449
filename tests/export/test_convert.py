from __future__ import annotations

import keras
import numpy as np
import pytest

from tasklab.edge.litert import LiteRTModel
from tasklab.export.convert import (
    FlexOpsError,
    check_builtin_ops,
    convert,
    export_saved_model,
    operators,
)


@pytest.fixture(scope="module")
def small_model():
    keras.utils.set_random_seed(0)
    inputs = keras.Input((6,), name="features")
    x = keras.layers.Dense(16, activation="relu")(inputs)
    outputs = keras.layers.Dense(3, activation="softmax")(x)
    return keras.Model(inputs, outputs)


@pytest.mark.parametrize("variant", ["float32", "float16", "dynamic_int8", "int8"])
def test_every_variant_converts_with_builtin_ops_and_runs(small_model, tmp_path, variant):
    x = np.random.default_rng(0).normal(size=(200, 6)).astype("float32")
    saved = export_saved_model(small_model, tmp_path / "saved_model")
    content = convert(saved, variant, representative=x[:100])
    assert check_builtin_ops(content, variant, allow_flex=False)
    assert "FULLY_CONNECTED" in {op.name for op in operators(content)}
    runtime = LiteRTModel(content)
    outputs = runtime.predict(x, batch_size=64)
    expected = small_model.predict(x, verbose=0)
    agreement = np.mean(outputs.argmax(axis=1) == expected.argmax(axis=1))
    if variant == "float32":
        np.testing.assert_allclose(outputs, expected, atol=1e-5)
    else:
        assert agreement >= 0.95 and np.abs(outputs - expected).max() < 0.1
    if variant == "int8":
        assert runtime.input_dtype == np.int8 and runtime.input_quantization[0] > 0


def test_a_non_unrolled_gru_is_refused_with_the_op_and_the_layer(tmp_path):
    inputs = keras.Input((5, 3))
    recurrent = keras.layers.GRU(4, name="my_gru")(inputs)
    outputs = keras.layers.Dense(2, activation="softmax")(recurrent)
    saved = export_saved_model(keras.Model(inputs, outputs), tmp_path / "saved_model")
    content = convert(saved, "float32")
    message = r"FlexTensorList\w+ in layer '[^']*my_gru[^']*'.*unroll"
    with pytest.raises(FlexOpsError, match=message):
        check_builtin_ops(content, "float32", allow_flex=False)
    assert not check_builtin_ops(content, "float32", allow_flex=True)


def test_unknown_variant_and_missing_calibration(tmp_path, small_model):
    saved = export_saved_model(small_model, tmp_path / "saved_model")
    with pytest.raises(ValueError, match=r"must be one of \['float32'"):
        convert(saved, "int4")
    with pytest.raises(ValueError, match="representative sample"):
        convert(saved, "int8")


def test_latency_and_throughput_are_measured_in_the_interpreter(small_model, tmp_path):
    saved = export_saved_model(small_model, tmp_path / "saved_model")
    runtime = LiteRTModel(convert(saved, "float32"))
    x = np.random.default_rng(0).normal(size=(64, 6)).astype("float32")
    latency = runtime.single_example_latency(x[0], warmup=2, runs=20)
    assert 0 < latency["median_ms"] <= latency["p90_ms"]
    assert runtime.throughput(x) > 0
    # Timing resized the input to one example and back to 64; predictions are unchanged.
    np.testing.assert_allclose(runtime.predict(x), small_model.predict(x, verbose=0), atol=1e-5)
