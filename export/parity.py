"""The parity gate: does an exported variant still agree with the Keras model?

Every variant runs on the whole test split in the LiteRT interpreter; its
outputs are compared with the Keras model's (top-1 agreement, absolute
differences) and scored with the task's own metrics, then checked against
the variant's configured `GateConfig`.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from tasklab.core.config import GateConfig
from tasklab.core.evaluate import Evaluation


@dataclasses.dataclass(frozen=True)
class Parity:
    """How one variant's test outputs compare with the Keras model's.

    Attributes:
        agreement: fraction of test examples with the same top-1 class as the
            Keras model (None for regression).
        max_abs_diff: largest absolute difference of any output value.
        mean_abs_diff: mean absolute difference over all output values.
        metric_drop: the loss in the primary metric versus the Keras model
            (absolute for scores, relative for errors; negative: it improved).
        failures: one line per gate condition the variant misses (empty: passed).
    """

    agreement: float | None
    max_abs_diff: float
    mean_abs_diff: float
    metric_drop: float
    failures: tuple[str, ...]

    @property
    def passed(self) -> bool:
        return not self.failures


def measure_parity(
    keras_outputs: np.ndarray,
    variant_outputs: np.ndarray,
    keras_evaluation: Evaluation,
    variant_evaluation: Evaluation,
    gate: GateConfig,
) -> Parity:
    """Compares a variant's test outputs with the Keras model's and applies its gate.

    Args:
        keras_outputs: the Keras model's test outputs, `(examples, outputs)`.
        variant_outputs: the variant's outputs on the same examples, same shape.
        keras_evaluation: the Keras model's test metrics.
        variant_evaluation: the variant's test metrics (same task evaluation).
        gate: the thresholds the variant must meet.

    Returns:
        The comparison, with the gate's verdict.
    """
    if keras_outputs.shape != variant_outputs.shape:
        raise ValueError(
            f"The variant's outputs have shape {variant_outputs.shape} but the Keras model's "
            f"have {keras_outputs.shape}; they must be computed on the same examples."
        )
    difference = np.abs(keras_outputs.astype(np.float64) - variant_outputs.astype(np.float64))
    classification = keras_evaluation.higher_is_better and keras_outputs.shape[-1] > 1
    agreement = (
        float(np.mean(keras_outputs.argmax(axis=-1) == variant_outputs.argmax(axis=-1)))
        if classification
        else None
    )
    drop = metric_drop(keras_evaluation, variant_evaluation)
    failures = gate_failures(agreement, float(difference.max()), drop, gate)
    return Parity(
        agreement=agreement,
        max_abs_diff=float(difference.max()),
        mean_abs_diff=float(difference.mean()),
        metric_drop=drop,
        failures=tuple(failures),
    )


def metric_drop(keras_evaluation: Evaluation, variant_evaluation: Evaluation) -> float:
    """The loss in the primary metric: absolute for scores, relative for errors.

    Returns:
        Positive when the variant is worse than the Keras model.
    """
    primary = keras_evaluation.primary
    reference, value = keras_evaluation.metrics[primary], variant_evaluation.metrics[primary]
    if keras_evaluation.higher_is_better:
        return float(reference - value)
    # An error such as RMSE has the data's units: compare relative to the Keras value.
    return float((value - reference) / max(abs(reference), np.finfo(np.float64).tiny))


def gate_failures(
    agreement: float | None, max_abs_diff: float, drop: float, gate: GateConfig
) -> list[str]:
    """Lists the gate conditions a variant misses, each as a readable line."""
    failures = []
    if agreement is not None and agreement < gate.min_agreement:
        failures.append(f"agreement {agreement:.4f} < {gate.min_agreement}")
    if gate.max_abs_diff is not None and max_abs_diff > gate.max_abs_diff:
        failures.append(f"max abs diff {max_abs_diff:.3g} > {gate.max_abs_diff:g}")
    # A tiny tolerance: a metric equal to the threshold up to rounding passes.
    if gate.max_metric_drop is not None and drop > gate.max_metric_drop + 1e-12:
        failures.append(f"metric drop {drop:.4f} > {gate.max_metric_drop}")
    return failures
