"""The export stage: LiteRT variants through the parity gate, timed, and packed as an edge bundle.

For each configured variant: convert from one SavedModel, check the operators
(builtin only unless allowed), run it in the LiteRT interpreter on the whole
test split, compare with the Keras model (the parity gate), and time it. A
full-int8 variant that fails its gate is triaged with the quantization
debugger and retried with its worst layers in float; both attempts are kept.

The run directory gets:

    export/                     the edge bundle: what a device needs, and nothing else
        float32.tflite ...      one file per variant
        labels.txt              one class name per line, in output order
        preprocessing.json      input shape, dtype, scaling, conventions, quantization
        runner/                 the TF-free reference runner (`python -m runner . INPUT`)
        README.txt              how to run it
    saved_model/                the SavedModel the variants are converted from (TF Serving)
    export.json                 the variant table (sizes, parity, latency, pass/fail)

The Keras model stays `RUN_DIR/model.keras`: training artifacts are not in the bundle.
"""

from __future__ import annotations

import dataclasses
import logging
import shutil
import time
from pathlib import Path
from typing import Any

import keras
import numpy as np

from tasklab.core import io
from tasklab.core.config import ExportConfig, RunConfig
from tasklab.core.evaluate import Evaluation
from tasklab.core.progress import Progress
from tasklab.core.run_dir import RunDir
from tasklab.data.base import Split
from tasklab.edge.bundle_spec import PREPROCESSING_FILE
from tasklab.edge.litert import LiteRTModel, time_calls
from tasklab.export.bundle import write_runner
from tasklab.export.convert import check_builtin_ops, convert, export_saved_model, operators
from tasklab.export.parity import measure_parity
from tasklab.export.results import (
    ExportResult,
    KerasReference,
    VariantResult,
    XGBoostReference,
)
from tasklab.export.triage import (
    LayerError,
    convert_keeping_float,
    float_front,
    front_end,
    rank_layers,
    worst_layers,
)
from tasklab.tasks.base import Task
from tasklab.training.context import StageContext
from tasklab.training.train import sample_inputs, split_inputs

logger = logging.getLogger(__name__)

LABELS_FILE = "labels.txt"
# The quantization triage's retries, in the order tried.
FRONT_END_RETRY = "int8_float_frontend"  # Only for tasks whose models have a signal front end.
TRIAGE_RETRIES = ("int8_selective", "int8_float_front")
_WARMUP = 10
_THROUGHPUT_BATCH = 256


class ExportGateError(RuntimeError):
    """A variant failed its parity gate (raised only when asked to be strict)."""


def run(context: StageContext, settings: ExportConfig) -> ExportResult:
    """Exports the configured LiteRT variants of a trained model and writes the bundle.

    Args:
        context: the trained model and its run (the test split is the gate's
            data; the train split gives the calibration sample); the run
            directory gets `export/` and `export.json`.
        settings: the `export` section to run with (what to export, the gates).

    Returns:
        What `export.json` holds, typed.

    Raises:
        FlexOpsError: when a variant needs Flex ops and `export.allow_flex` is off.
    """
    context = context.with_settings("export", settings)
    model, task, dataset, config = context.model, context.task, context.dataset, context.config
    run_dir = context.run_dir
    export_config = config.export
    test_inputs = split_inputs(dataset.test, task, config.train.batch_size, config.seed)
    keras_outputs = model.predict(test_inputs, batch_size=config.train.batch_size, verbose=0)
    test_labels = task.split_labels(dataset.test)
    keras_evaluation = task.evaluate(test_labels, keras_outputs, config.seed)
    representative = sample_inputs(
        dataset.train,
        task,
        config.export.representative_size,
        config.train.batch_size,
        config.seed,
    )
    logger.info(
        "Export: %s on %d test examples (%d calibration examples)",
        list(export_config.variants),
        len(test_inputs),
        len(representative),
    )
    staging = run_dir / f".{RunDir.BUNDLE}.partial"
    saved_model_staging = run_dir / f".{RunDir.SAVED_MODEL}.partial"
    for partial in (staging, saved_model_staging):
        shutil.rmtree(partial, ignore_errors=True)
    io.make_dir(staging)
    saved_model = export_saved_model(model, saved_model_staging)

    context = _VariantContext(
        saved_model=saved_model,
        staging=staging,
        config=export_config,
        task=task,
        labels=test_labels,
        test_inputs=test_inputs,
        keras_outputs=keras_outputs,
        keras_evaluation=keras_evaluation,
        representative=representative,
        seed=config.seed,
    )
    variants = []
    progress = Progress("Export", len(export_config.variants), logger, min_interval=0)
    for name in export_config.variants:
        entry = context.export_variant(name)
        variants.append(entry)
        if name == "int8" and not entry.passed and export_config.triage_layers:
            variants.extend(context.triage_int8())
        progress.advance(f"{name} {'passed' if entry.passed else 'failed'} its gate")
    variants = with_size_ratios(variants)

    io.write_text(staging / LABELS_FILE, "".join(f"{n}\n" for n in dataset.spec.class_names))
    io.write_json(
        staging / PREPROCESSING_FILE, preprocessing_spec(task, config, test_inputs, variants)
    )
    write_runner(staging)
    io.replace_dir(staging, RunDir(run_dir).bundle)
    io.replace_dir(saved_model_staging, RunDir(run_dir).saved_model)
    result = ExportResult(
        bundle=RunDir.BUNDLE,
        variants=tuple(variants),
        all_passed=all(entry.passed for entry in variants),
        test_examples=len(test_inputs),
        calibration_examples=len(representative),
        num_threads=export_config.num_threads,
        primary_metric=keras_evaluation.primary,
        higher_is_better=keras_evaluation.higher_is_better,
        keras=KerasReference(
            metrics=keras_evaluation.metrics,
            size_bytes=RunDir(run_dir).model.stat().st_size,
            **_prefixed(keras_latency(model, test_inputs[0], export_config.latency_runs)),
        ),
        xgboost=xgboost_latency(run_dir, task, dataset.test, export_config.latency_runs),
    )
    result.write(RunDir(run_dir).export)
    return result


@dataclasses.dataclass(frozen=True)
class _VariantContext:
    """What exporting, checking and timing one variant needs (shared by every variant)."""

    saved_model: Path
    staging: Path
    config: ExportConfig
    task: Task
    labels: np.ndarray
    test_inputs: np.ndarray
    keras_outputs: np.ndarray
    keras_evaluation: Evaluation
    representative: np.ndarray
    seed: int

    def export_variant(self, name: str) -> VariantResult:
        """Converts, checks and times one variant; returns its `export.json` entry."""
        logger.info("Export: converting %s", name)
        started = time.perf_counter()
        content = convert(self.saved_model, name, self.representative)
        return self._check_and_time(name, content, time.perf_counter() - started)

    def triage_int8(self) -> list[VariantResult]:
        """Ranks the int8 layers by quantization error and retries with some kept in float.

        For a task whose models start with a fixed signal front end (a
        log-mel spectrogram), the first retry (`int8_float_frontend`) keeps
        that front end in float. Then (`int8_selective`) the `triage_layers`
        worst layers in float, and (`int8_float_front`) every layer up to the
        worst one, each tried only while the previous one fails its gate.

        Returns:
            The retries' `export.json` entries.
        """
        logger.info("Export: int8 failed its gate; ranking layers with the quantization debugger")
        started = time.perf_counter()
        ranked = rank_layers(self.saved_model, self.representative)
        rank_seconds = time.perf_counter() - started
        choices = {}
        if self.task.front_end_layers:
            int8_ops = operators((self.staging / "int8.tflite").read_bytes())
            tensors = [op.tensor for op in int8_ops]
            choices[FRONT_END_RETRY] = front_end(tensors, self.task.front_end_layers)
        choices[TRIAGE_RETRIES[0]] = _tensors(worst_layers(ranked, self.config.triage_layers))
        choices[TRIAGE_RETRIES[1]] = _tensors(float_front(ranked))
        entries: list[VariantResult] = []
        for name, kept in choices.items():
            if entries and (entries[-1].passed or list(entries[-1].kept_float) == kept):
                break
            entries.append(self._retry_keeping_float(name, ranked, kept, rank_seconds))
        return entries

    def _retry_keeping_float(
        self, name: str, ranked: list[LayerError], kept: list[str], rank_seconds: float
    ) -> VariantResult:
        started = time.perf_counter()
        content = convert_keeping_float(self.saved_model, self.representative, kept)
        seconds = rank_seconds + time.perf_counter() - started
        layer_errors = tuple(
            {"op": layer.op, "tensor": layer.tensor, "rmse_over_scale": layer.rmse_over_scale}
            for layer in ranked
        )
        entry = self._check_and_time(name, content, seconds)
        return dataclasses.replace(entry, kept_float=tuple(kept), layer_errors=layer_errors)

    def _check_and_time(self, name: str, content: bytes, seconds: float) -> VariantResult:
        builtin_only = check_builtin_ops(content, name, self.config.allow_flex)
        path = io.write_bytes(self.staging / f"{name}.tflite", content)
        runtime = LiteRTModel(path, num_threads=self.config.num_threads)
        outputs = runtime.predict(self.test_inputs)
        evaluation = self.task.evaluate(self.labels, outputs, self.seed)
        parity = measure_parity(
            self.keras_outputs,
            outputs,
            self.keras_evaluation,
            evaluation,
            self.config.gate(name),
            self.task.problem,
        )
        latency = runtime.single_example_latency(
            self.test_inputs[0], warmup=_WARMUP, runs=self.config.latency_runs
        )
        throughput = runtime.throughput(self.test_inputs[:_THROUGHPUT_BATCH])
        logger.info(
            "Export: %s %d bytes, agreement %s, max abs diff %.3g, %.3f ms: %s",
            name,
            len(content),
            "n/a" if parity.agreement is None else f"{parity.agreement:.4f}",
            parity.max_abs_diff,
            latency["median_ms"],
            "passed" if parity.passed else "FAILED (" + "; ".join(parity.failures) + ")",
        )
        return VariantResult(
            name=name,
            path=f"{RunDir.BUNDLE}/{path.name}",
            size_bytes=len(content),
            builtin_ops_only=builtin_only,
            ops=tuple(sorted({op.name for op in operators(content)})),
            input_dtype=runtime.input_dtype.name,
            input_quantization=_quantization(runtime.input_quantization),
            output_quantization=_quantization(runtime.output_quantization),
            agreement=parity.agreement,
            max_abs_diff=parity.max_abs_diff,
            mean_abs_diff=parity.mean_abs_diff,
            metrics=evaluation.metrics,
            metric_drop=parity.metric_drop,
            latency_ms_median=latency["median_ms"],
            latency_ms_p90=latency["p90_ms"],
            throughput_per_second=throughput,
            convert_seconds=round(seconds, 3),
            passed=parity.passed,
            failures=parity.failures,
        )


def preprocessing_spec(
    task: Task, config: RunConfig, test_inputs: np.ndarray, variants: list[VariantResult]
) -> dict[str, Any]:
    """What a device needs to feed the model and read its output (`preprocessing.json`)."""
    passed = [entry for entry in variants if entry.passed]
    default = min(passed or variants, key=lambda entry: entry.size_bytes).name
    problem = task.problem
    return {
        "format_version": 1,
        "task": task.name,
        "problem": problem.name,
        "model": config.model.name,
        "class_names": list(task.spec.class_names),
        "input": {
            **task.edge_input(),
            **task.input_convention(test_inputs),
            "shape": [int(d) for d in test_inputs.shape[1:]],
            "dtype": test_inputs.dtype.name,  # float32, or int32 token ids
        },
        "output": {
            "kind": problem.output_kind,
            "labels_file": LABELS_FILE if problem.has_classes else None,
        },
        "default_variant": default,
        "variants": {
            entry.name: {
                "file": Path(entry.path).name,
                "input_dtype": entry.input_dtype,
                "input_quantization": entry.input_quantization,
                "output_quantization": entry.output_quantization,
                "passed": entry.passed,
                "quantize_input": "q = clip(round(x / scale) + zero_point, -128, 127)"
                if entry.input_dtype == "int8"
                else None,
                "dequantize_output": "y = (q - zero_point) * scale"
                if entry.output_quantization["scale"]
                else None,
            }
            for entry in variants
        },
    }


def keras_latency(model: keras.Model, example: np.ndarray, runs: int) -> dict[str, float]:
    """Single-example latency of the Keras model (`predict_on_batch`, its compiled predict step)."""
    batch = example[np.newaxis]
    return time_calls(lambda: model.predict_on_batch(batch), _WARMUP, runs)


def xgboost_latency(run_dir: Path, task: Task, test: Split, runs: int) -> XGBoostReference | None:
    """Single-example latency of the run's XGBoost baseline, reloaded from its JSON.

    Returns:
        Its file size and timings, or None when the run has no XGBoost baseline.
    """
    from tasklab.baselines.xgboost_model import load_xgboost_baseline, xgboost_baseline_path

    baseline = load_xgboost_baseline(run_dir, task.problem)
    if baseline is None:
        return None
    row = task.baseline_features(test).iloc[[0]]
    return XGBoostReference(
        size_bytes=xgboost_baseline_path(run_dir).stat().st_size,
        **_prefixed(
            time_calls(lambda: task.problem.estimator_outputs(baseline, row), _WARMUP, runs)
        ),
    )


def enforce_gate(result: ExportResult) -> None:
    """Raises when a variant failed its gate (for `tasklab export --strict`).

    Raises:
        ExportGateError: naming each failing variant and why.
    """
    failing = result.failing()
    if failing:
        described = "; ".join(f"{e.name}: {', '.join(e.failures)}" for e in failing)
        raise ExportGateError(f"{len(failing)} variant(s) failed the parity gate: {described}.")


def _tensors(layers: list[LayerError]) -> list[str]:
    return [layer.tensor for layer in layers]


def _prefixed(latency: dict[str, float]) -> dict[str, float]:
    return {"latency_ms_median": latency["median_ms"], "latency_ms_p90": latency["p90_ms"]}


def _quantization(params: tuple[float, int]) -> dict[str, float | int]:
    scale, zero_point = params
    return {"scale": scale, "zero_point": zero_point}


def with_size_ratios(variants: list[VariantResult]) -> list[VariantResult]:
    """The variants with their size as a fraction of float32's (when float32 was exported)."""
    reference = next((e.size_bytes for e in variants if e.name == "float32"), None)
    return [
        dataclasses.replace(e, size_ratio=round(e.size_bytes / reference, 4) if reference else None)
        for e in variants
    ]
