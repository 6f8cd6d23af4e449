"""Mathematical properties of the gradient methods on models whose answers are known."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from keras import ops

from tasklab.explain.base import MODEL_OUTPUT, PRE_SOFTMAX, ExplainOptions
from tasklab.explain.gradients import (
    completeness_error,
    find_gradcam_layer,
    grad_cam,
    integrated_gradients,
    smoothgrad,
    vanilla_gradient,
)

RNG = np.random.default_rng(0)


def linear_model(weights: np.ndarray) -> keras.Model:
    inputs = keras.Input((len(weights),))
    dense = keras.layers.Dense(1, use_bias=True)
    outputs = dense(inputs)
    dense.set_weights([weights[:, np.newaxis].astype("float32"), np.array([0.5], "float32")])
    return keras.Model(inputs, outputs)


def cubic_model(features: int) -> keras.Model:
    """f(x) = sum(x^3): Integrated Gradients from 0 gives exactly x_i^3 per feature."""
    inputs = keras.Input((features,))
    outputs = keras.layers.Lambda(lambda x: ops.sum(x**3, axis=-1, keepdims=True))(inputs)
    return keras.Model(inputs, outputs)


def test_gradient_and_smoothgrad_of_a_linear_model_are_its_weights():
    weights = RNG.normal(size=5)
    model, x = linear_model(weights), RNG.normal(size=(7, 5)).astype("float32")
    targets = np.zeros(7, dtype=int)
    for method in (vanilla_gradient, smoothgrad):
        result = method(model, x, targets, ExplainOptions(batch_size=3, smoothgrad_samples=4))
        np.testing.assert_allclose(result.values, np.tile(weights, (7, 1)), rtol=1e-5)
        np.testing.assert_allclose(result.outputs, x @ weights + 0.5, rtol=1e-5)
        assert result.seconds_per_example > 0


def test_integrated_gradients_matches_the_closed_form_and_is_complete():
    model, x = cubic_model(4), RNG.uniform(-2, 2, size=(3, 4)).astype("float32")
    result = integrated_gradients(
        model, x, np.zeros(3, dtype=int), ExplainOptions(ig_steps=64, batch_size=16)
    )
    # Trapezoid error for the integral of 3a^2 x^3 over 64 intervals is x^3 / (2 * 64^2).
    np.testing.assert_allclose(result.values, x**3, rtol=2e-4, atol=1e-5)
    np.testing.assert_allclose(result.base_values, 0.0, atol=1e-7)
    assert completeness_error(result).max() < 1e-3
    fixed = ExplainOptions(ig_steps=2, ig_max_steps=2)
    coarse = integrated_gradients(model, x, np.zeros(3, dtype=int), fixed)
    assert completeness_error(coarse).max() > 0.05  # Too few steps shows as incompleteness.


def test_integrated_gradients_refines_an_incomplete_example_on_the_nested_grid():
    model, x = cubic_model(4), RNG.uniform(-2, 2, size=(3, 4)).astype("float32")
    targets = np.zeros(3, dtype=int)
    refined = integrated_gradients(
        model, x, targets, ExplainOptions(ig_steps=2, ig_max_steps=64, ig_tolerance=0.01)
    )
    assert completeness_error(refined).max() <= 0.01
    steps = refined.extras["steps"]
    assert (steps > 2).all() and (steps <= 64).all()
    # Refining by midpoints must equal the trapezoid rule computed afresh at that count.
    for index, count in enumerate(steps):
        direct = integrated_gradients(
            model,
            x[index : index + 1],
            targets[index : index + 1],
            ExplainOptions(ig_steps=int(count), ig_max_steps=int(count)),
        )
        np.testing.assert_allclose(refined.values[index], direct.values[0], rtol=1e-5, atol=1e-6)


def test_integrated_gradients_explains_the_target_classs_pre_softmax_score():
    """A softmax classifier is explained through its logits: for a linear one, IG from a
    baseline is exactly (x - baseline) times the target's weights, in one step."""
    inputs = keras.Input((3,))
    dense = keras.layers.Dense(2, activation="softmax")
    model = keras.Model(inputs, dense(inputs))
    kernel, bias = (np.asarray(w) for w in dense.get_weights())
    x = RNG.normal(size=(4, 3)).astype("float32")
    baseline = np.full(3, 0.3, np.float32)
    targets = np.array([0, 1, 1, 0])
    result = integrated_gradients(model, x, targets, ExplainOptions(), baseline=baseline)
    assert result.output_space == PRE_SOFTMAX
    rows = np.arange(4)
    np.testing.assert_allclose(result.outputs, (x @ kernel + bias)[rows, targets], rtol=1e-5)
    np.testing.assert_allclose(result.base_values, (baseline @ kernel + bias)[targets], rtol=1e-5)
    np.testing.assert_allclose(result.values, (x - baseline) * kernel[:, targets].T, atol=1e-5)
    assert completeness_error(result).max() < 1e-4
    assert (result.extras["steps"] == ExplainOptions().ig_steps).all()


def test_integrated_gradients_of_a_regressor_explains_its_output():
    weights = RNG.normal(size=4)
    model, x = linear_model(weights), RNG.normal(size=(3, 4)).astype("float32")
    result = integrated_gradients(model, x, np.zeros(3, int), ExplainOptions())
    assert result.output_space == MODEL_OUTPUT
    np.testing.assert_allclose(result.values, x * weights, rtol=1e-4, atol=1e-6)


def gradcam_model() -> keras.Model:
    """A 1x1 convolution with weight 1, global average pooling, a dense weight 1: CAM = x / 64."""
    inputs = keras.Input((8, 8, 1))
    conv = keras.layers.Conv2D(1, 1, use_bias=False, kernel_initializer="ones", name="conv")
    x = conv(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(1, kernel_initializer="ones", bias_initializer="zeros")(x)
    return keras.Model(inputs, outputs)


def test_grad_cam_finds_the_last_convolution_and_maps_where_the_evidence_is():
    model = gradcam_model()
    assert find_gradcam_layer(model, None).name == "conv"
    x = RNG.uniform(0, 1, size=(2, 8, 8, 1)).astype("float32")
    result = grad_cam(model, x, np.zeros(2, dtype=int), ExplainOptions())
    # The mean gradient of the score with respect to the map is 1/64; CAM = relu(map / 64).
    np.testing.assert_allclose(result.values, x / 64, rtol=1e-5, atol=1e-7)
    negative = grad_cam(model, -x, np.zeros(2, dtype=int), ExplainOptions())
    assert np.all(negative.values == 0)  # Evidence against the class is cut by the ReLU.


def test_grad_cam_layer_errors_name_the_fix():
    with pytest.raises(ValueError, match="'nope' is not a layer of the model"):
        find_gradcam_layer(gradcam_model(), "nope")
    with pytest.raises(ValueError, match=r"explain\.gradcam_layer"):
        find_gradcam_layer(linear_model(np.ones(3)), None)
