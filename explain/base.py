"""The explainer contract: a model and inputs in, attributions with the input's shape out.

An explainer is chosen by name from `EXPLAINERS`; a task lists the methods
that apply to it (`Task.explain_methods`). Every explainer returns the same
`Attributions`, so the sanity checks and the report treat them alike.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import numpy as np

from tasklab.core.registry import Registry

MODEL_OUTPUT = "model output"
PRE_SOFTMAX = "pre-softmax score (logit)"


@dataclasses.dataclass(frozen=True)
class Examples:
    """The test examples every method explains.

    Attributes:
        rows: their indices in the test split (increasing).
        inputs: `(examples, *input_shape)` model-ready inputs.
        labels: true labels (classes, or values).
        predicted: the Keras model's prediction (a class, or a value).
        targets: the output explained per example: the predicted class (0 for a value).
        confidence: that output's value (the class probability, or the value).
        mistakes: whether each prediction is wrong, where predictions are right
            or wrong (`Problem.mistakes`; None otherwise).
        output_scale: what additivity errors count against (`Problem.output_scale`
            of the explained outputs: 1 for probabilities).
    """

    rows: np.ndarray
    inputs: np.ndarray
    labels: np.ndarray
    predicted: np.ndarray
    targets: np.ndarray
    confidence: np.ndarray
    mistakes: np.ndarray | None = None
    output_scale: float = 1.0

    @property
    def correct(self) -> np.ndarray:
        """Whether each example is predicted right (all of them where none can be wrong)."""
        if self.mistakes is None:
            return np.ones(len(self.rows), dtype=bool)
        return ~self.mistakes


@dataclasses.dataclass(frozen=True)
class Attributions:
    """What an explainer says about a batch of examples.

    Attributes:
        values: attributions, `(examples, *input_shape)`: how much each input
            value moved the explained output.
        base_values: `(examples,)` the output the attributions are measured
            from (SHAP's expected value, f(baseline) for Integrated
            Gradients; 0 where a method has none).
        targets: `(examples,)` the class explained (0 for regression).
        outputs: `(examples,)` the explained output of the model on each
            example (the target's probability, margin or value).
        seconds_per_example: wall time the method took per example.
        algorithm: for methods with several algorithms (SHAP of a Keras
            model), the one that ran.
        promises_additivity: whether base value + sum of attributions must
            equal the output (SHAP's local accuracy, IG's completeness).
        extras: per-example details a method reports (Integrated Gradients:
            `steps`, the intervals each example needed).
        output_space: what `outputs` and `base_values` are: the model's own
            output, or (Integrated Gradients of a classifier) the target's
            pre-softmax score.
    """

    values: np.ndarray
    base_values: np.ndarray
    targets: np.ndarray
    outputs: np.ndarray
    seconds_per_example: float
    algorithm: str = ""
    promises_additivity: bool = False
    extras: dict[str, np.ndarray] = dataclasses.field(default_factory=dict)
    output_space: str = MODEL_OUTPUT

    def additivity_error(self) -> np.ndarray:
        """`|base value + sum of attributions - output|` per example (SHAP's local accuracy)."""
        totals = self.values.reshape(len(self.values), -1).sum(axis=1)
        return np.abs(self.base_values + totals - self.outputs)


@dataclasses.dataclass(frozen=True)
class ExplainOptions:
    """Settings every explain function receives (each reads the ones it needs).

    Attributes:
        batch_size: examples (or interpolation points) per model call.
        ig_steps: Integrated Gradients' first number of intervals (trapezoid rule).
        ig_max_steps: the most intervals an example may be refined to.
        ig_tolerance: the relative completeness error that stops the refinement.
        smoothgrad_samples: noisy copies averaged by SmoothGrad.
        smoothgrad_noise: the noise's standard deviation as a fraction of the
            input's value range.
        gradcam_layer: the convolutional layer Grad-CAM reads (default: the
            last one at the model's top level).
        background: train examples SHAP integrates over (Keras models).
        reference: one input-shaped "absent" input (a black image, the train
            means of a table's features): where Integrated Gradients' path starts.
            Default: zeros.
        seed: seeds noise, background choice and permutations.
    """

    batch_size: int = 64
    ig_steps: int = 64
    ig_max_steps: int = 1024
    ig_tolerance: float = 0.05
    smoothgrad_samples: int = 25
    smoothgrad_noise: float = 0.15
    gradcam_layer: str | None = None
    background: np.ndarray | None = None
    reference: np.ndarray | None = None
    seed: int = 0


@dataclasses.dataclass(frozen=True)
class ExplainerSpec:
    """A registered explanation method.

    Attributes:
        explain: `explain(model, inputs, targets, options) -> Attributions`.
        model: which model it explains: `keras` or `xgboost`.
        inputs: what it attributes to: `pixels`, `features`, ... (a task's
            `explain_input` must match).
        description: one line for docs.
        signed: whether the sign of an attribution carries meaning (a positive
            one raised the output); unsigned methods (gradient saliency) are
            ranked by magnitude.
        needs_background: whether it reads `ExplainOptions.background`.
        sums_to: what its attributions must add up to, checked by the stage:
            `completeness` (Integrated Gradients: f(x) - f(baseline)),
            `additivity` (SHAP: output - base value), or None.
    """

    explain: Callable[..., Attributions]
    model: str
    inputs: frozenset[str]
    description: str
    signed: bool = True
    needs_background: bool = False
    sums_to: str | None = None


EXPLAINERS: Registry[ExplainerSpec] = Registry("explanation method")


def register_explainer(
    name: str,
    model: str,
    inputs: set[str],
    description: str,
    signed: bool = True,
    needs_background: bool = False,
    sums_to: str | None = None,
) -> Callable[[Callable[..., Attributions]], Callable[..., Attributions]]:
    """Decorator: registers an explain function under `name` (arguments as `ExplainerSpec`)."""

    def register(explain: Callable[..., Attributions]) -> Callable[..., Attributions]:
        spec = ExplainerSpec(
            explain, model, frozenset(inputs), description, signed, needs_background, sums_to
        )
        EXPLAINERS.register(name)(spec)
        return explain

    return register


def explained_outputs(outputs: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Each example's output for its target class (the only output for regression)."""
    outputs = np.asarray(outputs).reshape(len(outputs), -1)
    return outputs[np.arange(len(outputs)), np.asarray(targets, dtype=int)]


def predict(model: Any, inputs: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """The model's outputs on `inputs`, by direct calls in inference mode, batch by batch.

    Explanations call models on many arrays of varying length (paths,
    noisy copies, deletion curves); `model.predict` would retrace its
    `tf.function` for each new shape and warn, a direct call does not.

    Returns:
        `(examples, outputs)` float64 outputs.
    """
    parts = [
        np.asarray(model(inputs[part], training=False), dtype=np.float64)
        for part in as_batches(len(inputs), batch_size)
    ]
    return np.concatenate(parts).reshape(len(inputs), -1)


def as_batches(count: int, batch_size: int) -> list[slice]:
    """Slices covering `range(count)` in chunks of at most `batch_size`."""
    return [slice(start, min(start + batch_size, count)) for start in range(0, count, batch_size)]


def to_json(value: Any) -> Any:
    """numpy scalars and arrays as plain JSON values."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value
