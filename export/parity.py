"""The parity gate: does an exported variant still agree with the Keras model?

Every variant runs on the whole test split in the LiteRT interpreter; its
outputs are compared with the Keras model's (the problem's agreement measure,
absolute differences) and scored with the task's own metrics, then judged by
each check of the gate against the variant's configured `GateConfig`. A new
condition is one `GateCheck` subclass added to `GATE_CHECKS`.
"""

from __future__ import annotations

import abc
import dataclasses
from collections.abc import Sequence
from typing import ClassVar

import numpy as np

from tasklab.core.config import GateConfig
from tasklab.core.evaluate import Evaluation
from tasklab.core.problems import Problem


@dataclasses.dataclass(frozen=True)
class Parity:
    """How one variant's test outputs compare with the Keras model's.

    Attributes:
        agreement: how often the variant decides as the Keras model (the
            problem's measure: the same top-1 class; None where the problem has none).
        max_abs_diff: largest absolute difference of any output value.
        mean_abs_diff: mean absolute difference over all output values.
        metric_drop: the loss in the primary metric versus the Keras model
            (absolute for scores, relative for errors; negative: it improved).
        failures: one line per gate condition the variant misses (empty: passed).
        output_scale: what `max_abs_diff` is judged against (the problem's: 1 for
            probabilities, the Keras outputs' largest magnitude for values).
    """

    agreement: float | None
    max_abs_diff: float
    mean_abs_diff: float
    metric_drop: float
    failures: tuple[str, ...]
    output_scale: float = 1.0

    @property
    def passed(self) -> bool:
        return not self.failures


class GateCheck(abc.ABC):
    """One condition of the parity gate.

    Attributes:
        name: what the condition is about, for docs.
    """

    name: ClassVar[str]

    @abc.abstractmethod
    def failure(self, parity: Parity, gate: GateConfig) -> str | None:
        """Why the variant misses the condition (one readable line), or None when it meets it.

        Args:
            parity: the variant's measured comparison (its `failures` not yet set).
            gate: the variant's thresholds.
        """


class AgreementCheck(GateCheck):
    """The variant decides as the Keras model on at least `min_agreement` of the test split."""

    name = "agreement"

    def failure(self, parity: Parity, gate: GateConfig) -> str | None:
        if parity.agreement is not None and parity.agreement < gate.min_agreement:
            return f"agreement {parity.agreement:.4f} < {gate.min_agreement}"
        return None


class MaxAbsDiffCheck(GateCheck):
    """No output is further than `max_abs_diff` from the Keras model's (when set), relative to
    the problem's output scale (values are compared relative to their largest magnitude)."""

    name = "max_abs_diff"

    def failure(self, parity: Parity, gate: GateConfig) -> str | None:
        if gate.max_abs_diff is None:
            return None
        limit = gate.max_abs_diff * parity.output_scale
        if parity.max_abs_diff <= limit:
            return None
        if parity.output_scale == 1.0:
            return f"max abs diff {parity.max_abs_diff:.3g} > {gate.max_abs_diff:g}"
        return (
            f"max abs diff {parity.max_abs_diff:.3g} > {gate.max_abs_diff:g} x "
            f"{parity.output_scale:.4g} (the outputs' largest magnitude)"
        )


class MetricDropCheck(GateCheck):
    """The primary test metric is at most `max_metric_drop` worse than the Keras model's."""

    name = "metric_drop"

    def failure(self, parity: Parity, gate: GateConfig) -> str | None:
        # A tiny tolerance: a metric equal to the threshold up to rounding passes.
        if gate.max_metric_drop is not None and parity.metric_drop > gate.max_metric_drop + 1e-12:
            return f"metric drop {parity.metric_drop:.4f} > {gate.max_metric_drop}"
        return None


GATE_CHECKS: tuple[GateCheck, ...] = (AgreementCheck(), MaxAbsDiffCheck(), MetricDropCheck())


def measure_parity(
    keras_outputs: np.ndarray,
    variant_outputs: np.ndarray,
    keras_evaluation: Evaluation,
    variant_evaluation: Evaluation,
    gate: GateConfig,
    problem: Problem,
    checks: Sequence[GateCheck] = GATE_CHECKS,
) -> Parity:
    """Compares a variant's test outputs with the Keras model's and applies its gate.

    Args:
        keras_outputs: the Keras model's test outputs, `(examples, outputs)`.
        variant_outputs: the variant's outputs on the same examples, same shape.
        keras_evaluation: the Keras model's test metrics.
        variant_evaluation: the variant's test metrics (same task evaluation).
        gate: the thresholds the variant must meet.
        problem: the task's problem (its agreement measure).
        checks: the gate's conditions.

    Returns:
        The comparison, with the gate's verdict.
    """
    if keras_outputs.shape != variant_outputs.shape:
        raise ValueError(
            f"The variant's outputs have shape {variant_outputs.shape} but the Keras model's "
            f"have {keras_outputs.shape}; they must be computed on the same examples."
        )
    difference = np.abs(keras_outputs.astype(np.float64) - variant_outputs.astype(np.float64))
    measured = Parity(
        agreement=problem.agreement(keras_outputs, variant_outputs),
        max_abs_diff=float(difference.max()),
        mean_abs_diff=float(difference.mean()),
        metric_drop=metric_drop(keras_evaluation, variant_evaluation),
        failures=(),
        output_scale=problem.output_scale(keras_outputs),
    )
    failures = (check.failure(measured, gate) for check in checks)
    return dataclasses.replace(measured, failures=tuple(f for f in failures if f is not None))


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
