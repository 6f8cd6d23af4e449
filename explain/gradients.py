"""Gradient saliency for Keras models: gradients, SmoothGrad, Integrated Gradients, Grad-CAM.

Each explains the model's output for a target class (its probability; the
value for regression) with respect to the model's input, in batches, so
memory stays bounded whatever the number of examples or steps.

References: Simonyan et al. 2013 (gradients); Smilkov et al. 2017
(SmoothGrad); Sundararajan et al. 2017 (Integrated Gradients); Selvaraju et
al. 2017 (Grad-CAM).
"""

from __future__ import annotations

import time

import keras
import numpy as np
import tensorflow as tf

from explain.base import (
    Attributions,
    ExplainOptions,
    as_batches,
    explained_outputs,
    register_explainer,
)

_CONV_LAYERS = (
    keras.layers.Conv2D,
    keras.layers.DepthwiseConv2D,
    keras.layers.SeparableConv2D,
)


def target_gradients(
    model: keras.Model, inputs: np.ndarray, targets: np.ndarray, batch_size: int
) -> np.ndarray:
    """d output[target] / d input for every example.

    Examples are independent in inference mode, so the gradient of the
    batch's summed scores gives each example's own gradient.
    """
    gradients = np.empty(inputs.shape, dtype=np.float32)
    for part in as_batches(len(inputs), batch_size):
        batch = tf.convert_to_tensor(inputs[part], dtype=tf.float32)
        with tf.GradientTape() as tape:
            tape.watch(batch)
            scores = _target_scores(model, batch, targets[part])
        gradients[part] = tape.gradient(scores, batch).numpy()
    return gradients


def _target_scores(model: keras.Model, batch: tf.Tensor, targets: np.ndarray) -> tf.Tensor:
    outputs = tf.reshape(model(batch, training=False), [tf.shape(batch)[0], -1])
    return tf.gather(outputs, tf.constant(targets, dtype=tf.int32), axis=1, batch_dims=1)


def model_outputs(
    model: keras.Model, inputs: np.ndarray, targets: np.ndarray, batch_size: int
) -> np.ndarray:
    """The explained output (target probability, or value) of every example."""
    outputs = model.predict(inputs, batch_size=batch_size, verbose=0)
    return explained_outputs(outputs, targets)


@register_explainer(
    "gradient", "keras", {"pixels", "features"}, "vanilla gradient of the target output"
)
def vanilla_gradient(
    model: keras.Model, inputs: np.ndarray, targets: np.ndarray, options: ExplainOptions
) -> Attributions:
    """The gradient of the target output with respect to each input value."""
    started = time.perf_counter()
    values = target_gradients(model, inputs, targets, options.batch_size)
    return _attributions(model, inputs, targets, values, started, options)


@register_explainer(
    "smoothgrad", "keras", {"pixels", "features"}, "gradients averaged over noisy copies"
)
def smoothgrad(
    model: keras.Model, inputs: np.ndarray, targets: np.ndarray, options: ExplainOptions
) -> Attributions:
    """Gradients averaged over `smoothgrad_samples` copies with Gaussian noise added."""
    started = time.perf_counter()
    rng = np.random.default_rng(options.seed)
    sigma = options.smoothgrad_noise * float(np.ptp(inputs) or 1.0)
    total = np.zeros(inputs.shape, dtype=np.float64)
    for _ in range(options.smoothgrad_samples):
        noisy = (inputs + rng.normal(0.0, sigma, size=inputs.shape)).astype(np.float32)
        total += target_gradients(model, noisy, targets, options.batch_size)
    values = (total / options.smoothgrad_samples).astype(np.float32)
    return _attributions(model, inputs, targets, values, started, options)


@register_explainer(
    "integrated_gradients",
    "keras",
    {"pixels", "features"},
    "path integral of gradients from a zero baseline",
)
def integrated_gradients(
    model: keras.Model,
    inputs: np.ndarray,
    targets: np.ndarray,
    options: ExplainOptions,
    baseline: np.ndarray | None = None,
) -> Attributions:
    """(x - baseline) times the mean gradient along the straight path, by the trapezoid rule.

    Completeness: the attributions of an example sum to f(x) - f(baseline),
    up to the integration error of `ig_steps` intervals.

    Args:
        model: the Keras model.
        inputs: `(examples, *input_shape)` model inputs.
        targets: the class explained per example.
        options: `ig_steps` and the batch size (interpolation points per call).
        baseline: one input-shaped reference (default: zeros, a black image).

    Returns:
        The attributions; `base_values` holds f(baseline).
    """
    started = time.perf_counter()
    baseline = np.zeros(inputs.shape[1:], np.float32) if baseline is None else baseline
    alphas = np.linspace(0.0, 1.0, options.ig_steps + 1, dtype=np.float32)
    # Trapezoid weights: the two ends count half.
    weights = np.full(len(alphas), 1.0 / options.ig_steps, dtype=np.float64)
    weights[[0, -1]] /= 2
    values = np.empty(inputs.shape, dtype=np.float32)
    for index, example in enumerate(inputs):
        path_targets = np.full(len(alphas), targets[index])
        shape = (-1,) + (1,) * example.ndim
        path = baseline + alphas.reshape(shape) * (example - baseline)
        gradients = target_gradients(
            model, path.astype(np.float32), path_targets, options.batch_size
        )
        mean_gradient = np.tensordot(weights, gradients.astype(np.float64), axes=1)
        values[index] = (example - baseline) * mean_gradient
    # One prediction of the baseline serves every example (each reads its own target).
    baseline_output = model.predict(baseline[np.newaxis], verbose=0)
    base = explained_outputs(np.repeat(baseline_output, len(inputs), axis=0), targets)
    outputs = model_outputs(model, inputs, targets, options.batch_size)
    return Attributions(
        values=values,
        base_values=base,
        targets=targets,
        outputs=outputs,
        seconds_per_example=(time.perf_counter() - started) / len(inputs),
        promises_additivity=True,
    )


def completeness_error(attributions: Attributions) -> np.ndarray:
    """Per example: |sum(attributions) - (f(x) - f(baseline))| / |f(x) - f(baseline)|."""
    difference = attributions.outputs - attributions.base_values
    return attributions.additivity_error() / np.maximum(np.abs(difference), 1e-12)


@register_explainer(
    "grad_cam", "keras", {"pixels"}, "class activation map of the last convolutional layer"
)
def grad_cam(
    model: keras.Model, inputs: np.ndarray, targets: np.ndarray, options: ExplainOptions
) -> Attributions:
    """ReLU of the feature maps weighted by their mean gradient, resized to the input.

    The map is spread evenly over the input's channels, so summing a pixel's
    channels gives the map's value there.
    """
    started = time.perf_counter()
    layer = find_gradcam_layer(model, options.gradcam_layer)
    mapper = keras.Model(model.inputs, [layer.output, model.output])
    height, width, channels = inputs.shape[1:]
    values = np.empty(inputs.shape, dtype=np.float32)
    for part in as_batches(len(inputs), options.batch_size):
        batch = tf.convert_to_tensor(inputs[part], dtype=tf.float32)
        with tf.GradientTape() as tape:
            feature_maps, outputs = mapper(batch, training=False)
            scores = tf.gather(outputs, tf.constant(targets[part], tf.int32), axis=1, batch_dims=1)
        gradients = tape.gradient(scores, feature_maps)
        weights = tf.reduce_mean(gradients, axis=(1, 2), keepdims=True)
        cam = tf.nn.relu(tf.reduce_sum(weights * feature_maps, axis=-1, keepdims=True))
        cam = tf.image.resize(cam, (height, width), method="bilinear").numpy()
        values[part] = np.repeat(cam / channels, channels, axis=-1)
    return _attributions(model, inputs, targets, values, started, options)


def find_gradcam_layer(model: keras.Model, name: str | None) -> keras.layers.Layer:
    """The named layer, else the last convolutional layer at the model's top level.

    Raises:
        ValueError: when the name is unknown or the model has no such layer.
    """
    if name is not None:
        names = [layer.name for layer in model.layers]
        if name not in names:
            raise ValueError(
                f"explain.gradcam_layer '{name}' is not a layer of the model. Its layers: {names}."
            )
        return model.get_layer(name)
    convolutions = [layer for layer in model.layers if isinstance(layer, _CONV_LAYERS)]
    if not convolutions:
        raise ValueError(
            f"Grad-CAM needs a convolutional layer at the top level of the model '{model.name}' "
            "and found none (a backbone nested as one layer hides its own). Name a layer with "
            "4-D output with explain.gradcam_layer, or leave grad_cam out of explain.methods."
        )
    return convolutions[-1]


def _attributions(
    model: keras.Model,
    inputs: np.ndarray,
    targets: np.ndarray,
    values: np.ndarray,
    started: float,
    options: ExplainOptions,
) -> Attributions:
    seconds = (time.perf_counter() - started) / len(inputs)
    return Attributions(
        values=values,
        base_values=np.zeros(len(inputs)),
        targets=targets,
        outputs=model_outputs(model, inputs, targets, options.batch_size),
        seconds_per_example=seconds,
    )
