"""Gradient saliency for Keras models: gradients, SmoothGrad, Integrated Gradients, Grad-CAM.

Each explains the model's output for a target class (its probability; the
value for regression) with respect to the model's input, in batches, so
memory stays bounded whatever the number of examples or steps. Integrated
Gradients explains a classifier's pre-softmax score instead, as most
implementations do (see `integrated_gradients`).

References: Simonyan et al. 2013 (gradients); Smilkov et al. 2017
(SmoothGrad); Sundararajan et al. 2017 (Integrated Gradients); Selvaraju et
al. 2017 (Grad-CAM).
"""

from __future__ import annotations

import logging
import time
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from tasklab.core.progress import Progress
from tasklab.explain.base import (
    MODEL_OUTPUT,
    PRE_SOFTMAX,
    Attributions,
    ExplainOptions,
    as_batches,
    explained_outputs,
    predict,
    register_explainer,
)

logger = logging.getLogger(__name__)

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


def softmax_output_layer(model: Any) -> keras.layers.Dense | None:
    """The model's output layer when it is a `Dense` layer with a softmax, else None."""
    if not isinstance(model, keras.Model) or not model.layers:
        return None
    last = model.layers[-1]
    if isinstance(last, keras.layers.Dense) and last.activation is keras.activations.softmax:
        return last
    return None


class PreSoftmax:
    """A softmax classifier seen through its scores before the softmax (its logits).

    Computes the output layer's `features @ kernel + bias` with the model's own
    weights, so it follows the model (and a randomized copy of it) exactly.

    Args:
        inputs: tensors of the model's graph the scores are a function of
            (its inputs, or an inner layer's outputs).
        layer: its `Dense` softmax output layer.
    """

    def __init__(self, inputs: Any, layer: keras.layers.Dense):
        if isinstance(inputs, list | tuple) and len(inputs) == 1:
            inputs = inputs[0]  # A one-input model is called with a tensor, not a list.
        self.features = keras.Model(inputs, layer.input)
        self.layer = layer

    def __call__(self, inputs: Any, training: bool = False) -> tf.Tensor:
        features = self.features(inputs, training=training)
        kernel = self.layer.kernel
        logits = tf.matmul(tf.cast(features, kernel.dtype), kernel)
        return logits + self.layer.bias if self.layer.use_bias else logits


def pre_softmax(model: Any, inputs: Any = None) -> tuple[Any, str]:
    """The model's pre-softmax scores as a function, where its output is a softmax.

    Args:
        model: a model (anything callable that is not a softmax Keras model is kept).
        inputs: tensors of the model's graph to start from (default: its inputs),
            e.g. an embedding layer's output to explain in embedding space.

    Returns:
        The scoring function (`keras.Model(inputs, model.outputs[0])` for
        regression and other outputs) and what it outputs (`PRE_SOFTMAX` or
        `MODEL_OUTPUT`).
    """
    layer = softmax_output_layer(model)
    if layer is not None:
        return PreSoftmax(inputs if inputs is not None else model.inputs, layer), PRE_SOFTMAX
    if inputs is not None:
        return keras.Model(inputs, model.outputs[0]), MODEL_OUTPUT
    return model, MODEL_OUTPUT


def model_outputs(
    model: keras.Model, inputs: np.ndarray, targets: np.ndarray, batch_size: int
) -> np.ndarray:
    """The explained output (target probability, or value) of every example."""
    outputs = predict(model, inputs, batch_size)
    return explained_outputs(outputs, targets)


@register_explainer(
    "gradient",
    "keras",
    {"pixels", "pixel_regions", "features", "spectrogram"},
    "vanilla gradient of the target output",
    signed=False,
)
def vanilla_gradient(
    model: keras.Model, inputs: np.ndarray, targets: np.ndarray, options: ExplainOptions
) -> Attributions:
    """The gradient of the target output with respect to each input value."""
    started = time.perf_counter()
    values = target_gradients(model, inputs, targets, options.batch_size)
    return _attributions(model, inputs, targets, values, started, options)


@register_explainer(
    "smoothgrad",
    "keras",
    {"pixels", "pixel_regions", "features", "spectrogram"},
    "gradients averaged over noisy copies",
    signed=False,
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
    {"pixels", "pixel_regions", "features", "spectrogram"},
    "path integral of gradients from a reference input",
    sums_to="completeness",
)
def integrated_gradients(
    model: keras.Model,
    inputs: np.ndarray,
    targets: np.ndarray,
    options: ExplainOptions,
    baseline: np.ndarray | None = None,
) -> Attributions:
    """(x - baseline) times the mean gradient along the straight path, by the trapezoid rule.

    f is the target class's pre-softmax score when the model ends in a
    softmax (as in Sundararajan et al.'s and most implementations): the
    softmax saturates, so along the path the probability sits flat and then
    flips within a sliver of it, which a grid can miss; on the digits CNN, the
    probability's completeness error stayed above 10% at 4,096 intervals for
    some examples. The logit of a ReLU network is piecewise linear along
    the path, and 64 intervals nearly always suffice. `Attributions.output_space`
    says which output was explained.

    Completeness: the attributions of an example sum to f(x) - f(baseline),
    up to the integration error. An example whose completeness error exceeds
    `ig_tolerance` gets twice the intervals (the nested grid reuses every
    gradient already computed), up to `ig_max_steps`. The intervals each
    example used are in `extras["steps"]`.

    Args:
        model: the Keras model.
        inputs: `(examples, *input_shape)` model inputs.
        targets: the class explained per example.
        options: `ig_steps`, `ig_max_steps`, `ig_tolerance`, the batch size
            (interpolation points per call) and `reference`, the default baseline.
        baseline: one input-shaped reference (default: `options.reference`,
            else zeros, a black image).

    Returns:
        The attributions; `base_values` holds f(baseline).
    """
    started = time.perf_counter()
    if baseline is None:
        baseline = options.reference
    if baseline is None:
        baseline = np.zeros(inputs.shape[1:], np.float32)
    baseline = np.asarray(baseline, dtype=np.float32).reshape(inputs.shape[1:])
    scores, space = pre_softmax(model)
    # One prediction of the baseline serves every example (each reads its own target).
    baseline_output = predict(scores, baseline[np.newaxis])
    base = explained_outputs(np.repeat(baseline_output, len(inputs), axis=0), targets)
    outputs = model_outputs(scores, inputs, targets, options.batch_size)
    values = np.empty(inputs.shape, dtype=np.float32)
    steps = np.empty(len(inputs), dtype=int)
    progress = Progress("Integrated Gradients", len(inputs), logger, min_interval=10)
    for index, example in enumerate(inputs):
        path = _StraightPath(scores, baseline, example, int(targets[index]), options.batch_size)
        mean_gradient, steps[index] = path.mean_gradient(
            options.ig_steps,
            options.ig_max_steps,
            options.ig_tolerance,
            expected=outputs[index] - base[index],
        )
        values[index] = (example - baseline) * mean_gradient
        if len(inputs) > 1:
            progress.advance(f"example {index + 1}/{len(inputs)} ({steps[index]} intervals)")
    return Attributions(
        values=values,
        base_values=base,
        targets=targets,
        outputs=outputs,
        seconds_per_example=(time.perf_counter() - started) / len(inputs),
        promises_additivity=True,
        extras={"steps": steps},
        output_space=space,
    )


class _StraightPath:
    """The gradients of one example's target output along baseline -> example."""

    def __init__(self, model, baseline, example, target: int, batch_size: int):
        self.model, self.baseline, self.example = model, baseline, example
        self.target, self.batch_size = target, batch_size

    def gradients(self, alphas: np.ndarray) -> np.ndarray:
        """Gradients at the points `baseline + alpha * (example - baseline)`."""
        shape = (-1,) + (1,) * self.example.ndim
        points = self.baseline + alphas.reshape(shape) * (self.example - self.baseline)
        targets = np.full(len(alphas), self.target)
        return target_gradients(
            self.model, points.astype(np.float32), targets, self.batch_size
        ).astype(np.float64)

    def mean_gradient(
        self, steps: int, max_steps: int, tolerance: float, expected: float
    ) -> tuple[np.ndarray, int]:
        """The trapezoid mean gradient, doubling the intervals until completeness holds.

        Args:
            steps: the first number of intervals.
            max_steps: the most intervals tried.
            tolerance: the relative completeness error that is good enough.
            expected: f(example) - f(baseline), what the attributions must sum to.

        Returns:
            The mean gradient (input-shaped) and the intervals it used.
        """
        alphas = np.linspace(0.0, 1.0, steps + 1)
        gradients = self.gradients(alphas)
        # Trapezoid rule: the two ends count half.
        mean = (gradients[1:-1].sum(axis=0) + (gradients[0] + gradients[-1]) / 2) / steps
        difference = self.example - self.baseline
        while steps < max_steps:
            total = float(np.sum(difference * mean))
            if abs(total - expected) <= tolerance * max(abs(expected), 1e-12):
                break
            # The midpoints of the current intervals refine the grid to 2 * steps.
            midpoints = (np.arange(steps) + 0.5) / steps
            mean = mean / 2 + self.gradients(midpoints).sum(axis=0) / (2 * steps)
            steps *= 2
        return mean, steps


def completeness_error(attributions: Attributions) -> np.ndarray:
    """Per example: |sum(attributions) - (f(x) - f(baseline))| / |f(x) - f(baseline)|."""
    difference = attributions.outputs - attributions.base_values
    return attributions.additivity_error() / np.maximum(np.abs(difference), 1e-12)


@register_explainer(
    "grad_cam",
    "keras",
    {"pixels", "pixel_regions", "spectrogram"},
    "class activation map of the last convolutional layer",
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
