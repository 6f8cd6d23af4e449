"""What the export stage returns and writes to `export.json`, typed."""

from __future__ import annotations

import dataclasses
from typing import Any

from tasklab.core.results import Record


@dataclasses.dataclass(frozen=True)
class VariantResult(Record):
    """One LiteRT variant: its file, its parity with the Keras model, its timings.

    Attributes:
        name: the variant (`float32`, `int8`, a triage retry...).
        path: its `.tflite` file, relative to the run directory.
        size_bytes: the file's size.
        builtin_ops_only: whether it needs only builtin LiteRT ops (no Flex).
        ops: the operators it uses.
        input_dtype: what the device feeds it (`float32`, `int8`, `int32`).
        input_quantization: `scale` and `zero_point` of its input (null for float).
        output_quantization: the same for its output.
        agreement: how often it decides as the Keras model (None: the problem has no decisions).
        max_abs_diff: the largest absolute difference of an output from the Keras model's.
        mean_abs_diff: the mean absolute difference.
        metrics: its test metrics.
        metric_drop: the loss in the primary metric versus Keras (see `export.parity`).
        latency_ms_median: single-example latency in the interpreter, median.
        latency_ms_p90: the same, 90th percentile.
        throughput_per_second: examples per second in batches.
        convert_seconds: how long conversion took.
        passed: whether it passed its gate.
        failures: one line per gate condition it missed.
        kept_float: quantization triage only: the tensors kept in float.
        layer_errors: quantization triage only: every layer's error, worst first.
        size_ratio: its size as a fraction of float32's (None without float32).
    """

    name: str
    path: str
    size_bytes: int
    builtin_ops_only: bool
    ops: tuple[str, ...]
    input_dtype: str
    input_quantization: dict[str, Any]
    output_quantization: dict[str, Any]
    agreement: float | None
    max_abs_diff: float
    mean_abs_diff: float
    metrics: dict[str, float | None]
    metric_drop: float
    latency_ms_median: float
    latency_ms_p90: float
    throughput_per_second: float
    convert_seconds: float
    passed: bool
    failures: tuple[str, ...]
    kept_float: tuple[str, ...] = ()
    layer_errors: tuple[dict[str, Any], ...] = ()
    size_ratio: float | None = None


@dataclasses.dataclass(frozen=True)
class KerasReference(Record):
    """The Keras model the variants are compared with: its metrics, file size and latency."""

    metrics: dict[str, float | None]
    size_bytes: int
    latency_ms_median: float
    latency_ms_p90: float


@dataclasses.dataclass(frozen=True)
class XGBoostReference(Record):
    """The run's XGBoost baseline, timed the same way: its JSON file's size and latency."""

    size_bytes: int
    latency_ms_median: float
    latency_ms_p90: float


@dataclasses.dataclass(frozen=True)
class ExportResult(Record):
    """The export stage's outcome (`export.json`).

    Attributes:
        bundle: the edge bundle's folder, relative to the run directory.
        variants: every variant exported, triage retries included, in order.
        all_passed: whether every variant passed its gate.
        test_examples: the test examples each variant ran on.
        calibration_examples: the train examples full int8 was calibrated on.
        num_threads: the interpreter's threads.
        primary_metric: the metric the gate's drop is measured in.
        higher_is_better: its direction.
        keras: the Keras reference.
        xgboost: the XGBoost reference (None when the run has no XGBoost baseline).
    """

    bundle: str
    variants: tuple[VariantResult, ...]
    all_passed: bool
    test_examples: int
    calibration_examples: int
    num_threads: int
    primary_metric: str
    higher_is_better: bool
    keras: KerasReference
    xgboost: XGBoostReference | None = None

    def failing(self) -> list[VariantResult]:
        """The variants that failed their gate."""
        return [variant for variant in self.variants if not variant.passed]

    def variant(self, name: str) -> VariantResult | None:
        """The variant of that name, if it was exported."""
        return next((variant for variant in self.variants if variant.name == name), None)
