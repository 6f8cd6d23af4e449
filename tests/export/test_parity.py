from __future__ import annotations

import numpy as np
import pytest

from tasklab.core.config import GateConfig
from tasklab.core.evaluate import Evaluation
from tasklab.core.problems import CLASSIFICATION, REGRESSION
from tasklab.export.parity import GATE_CHECKS, GateCheck, measure_parity, metric_drop


def evaluation(value: float, primary: str = "accuracy", higher_is_better: bool = True):
    return Evaluation(
        metrics={primary: value},
        intervals={},
        per_class={},
        confusion_matrix=[],
        primary=primary,
        higher_is_better=higher_is_better,
    )


def probabilities(top: list[int], classes: int = 3) -> np.ndarray:
    outputs = np.full((len(top), classes), 0.1, np.float32)
    outputs[np.arange(len(top)), top] = 0.8
    return outputs


def test_identical_outputs_pass_every_gate():
    outputs = probabilities([0, 1, 2, 1])
    gate = GateConfig(min_agreement=0.999, max_abs_diff=1e-4, max_metric_drop=0.0)
    parity = measure_parity(
        outputs, outputs.copy(), evaluation(0.9), evaluation(0.9), gate, CLASSIFICATION
    )
    assert parity.passed and parity.agreement == 1.0 and parity.max_abs_diff == 0.0


def test_disagreement_and_differences_are_measured_and_fail_the_gate():
    keras_outputs = probabilities([0, 1, 2, 1])
    variant = probabilities([0, 1, 2, 2])  # One of four flips.
    gate = GateConfig(min_agreement=0.98, max_abs_diff=0.1, max_metric_drop=0.01)
    parity = measure_parity(
        keras_outputs, variant, evaluation(0.75), evaluation(0.5), gate, CLASSIFICATION
    )
    assert parity.agreement == 0.75
    assert parity.max_abs_diff == pytest.approx(0.7)
    assert parity.mean_abs_diff == pytest.approx(1.4 / 12)
    assert parity.metric_drop == pytest.approx(0.25)
    assert not parity.passed and len(parity.failures) == 3
    assert parity.failures[0] == "agreement 0.7500 < 0.98"


def test_null_thresholds_are_not_checked_and_a_drop_equal_to_the_limit_passes():
    keras_outputs = probabilities([0, 1])
    variant = keras_outputs + 0.05
    gate = GateConfig(min_agreement=0.5, max_abs_diff=None, max_metric_drop=0.01)
    parity = measure_parity(
        keras_outputs, variant, evaluation(0.91), evaluation(0.90), gate, CLASSIFICATION
    )
    assert parity.passed, parity.failures


def test_regression_has_no_agreement_and_a_relative_metric_drop():
    keras_outputs = np.array([[100.0], [150.0]], np.float32)
    variant = np.array([[101.0], [150.0]], np.float32)
    keras_eval = evaluation(50.0, "rmse", higher_is_better=False)
    variant_eval = evaluation(51.0, "rmse", higher_is_better=False)
    assert metric_drop(keras_eval, variant_eval) == pytest.approx(0.02)
    parity = measure_parity(
        keras_outputs, variant, keras_eval, variant_eval, GateConfig(), REGRESSION
    )
    assert parity.agreement is None and parity.failures == ("metric drop 0.0200 > 0.01",)


def test_outputs_of_other_examples_are_refused():
    with pytest.raises(ValueError, match="same examples"):
        measure_parity(
            probabilities([0, 1]),
            probabilities([0]),
            evaluation(1),
            evaluation(1),
            GateConfig(),
            CLASSIFICATION,
        )


class _EvenCount(GateCheck):
    """A made-up condition: the test split must have an even number of examples."""

    name = "even_count"

    def failure(self, parity, gate):
        return "odd" if parity.max_abs_diff > 0 else None


def test_a_new_gate_condition_is_one_check_class():
    outputs = probabilities([0, 1])
    args = (outputs, outputs + 0.01, evaluation(0.9), evaluation(0.9), GateConfig())
    assert measure_parity(*args, CLASSIFICATION).passed
    parity = measure_parity(*args, CLASSIFICATION, checks=(*GATE_CHECKS, _EvenCount()))
    assert parity.failures == ("odd",)


def test_values_are_compared_relative_to_their_magnitude():
    # float32 rounding of values near 1,200 moves them by about 1e-4: no failure of the
    # 1e-4 float32 gate, which for probabilities is absolute.
    keras_outputs = np.array([[1200.0], [950.0], [-30.0]])
    rounded = keras_outputs + np.array([[4.9e-4], [0.0], [0.0]])
    gate = GateConfig(min_agreement=0.999, max_abs_diff=1e-4, max_metric_drop=None)
    rmse = evaluation(50.0, "rmse", higher_is_better=False)
    parity = measure_parity(keras_outputs, rounded, rmse, rmse, gate, REGRESSION)
    assert parity.passed and parity.output_scale == 1200.0
    off = keras_outputs + np.array([[0.5], [0.0], [0.0]])
    parity = measure_parity(keras_outputs, off, rmse, rmse, gate, REGRESSION)
    assert parity.failures == ("max abs diff 0.5 > 0.0001 x 1200 (the outputs' largest magnitude)",)
