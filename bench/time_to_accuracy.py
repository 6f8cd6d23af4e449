"""Time to accuracy of every shipped config, and the edge figures of its exported model.

    .venv/bin/python -m bench.time_to_accuracy [--configs digits breast_cancer ...]

Runs each config in `configs/` as a user would (`tasklab run`), with its own
epochs, schedule and batch size, stopping at the end of the first epoch
whose validation metric reaches the config's target (`train.stop_at`, in
`TARGETS`): the training seconds until then are its time to accuracy. The
XGBoost baseline is fitted on the same split where it takes the task's
inputs (not text), compared on the held-out test split only (no cross-
validation), and the model is exported to every LiteRT variant.

Writes `bench/results/time_to_accuracy.json` (per config: target, epochs and
seconds to reach it, test metric, the baseline's fit time and test metric,
the whole run's wall time and peak memory) and `bench/results/edge.json`
(per config and LiteRT variant: size and single-example latency, and their
ratios to the Keras model's single-example `predict_on_batch` and to the
XGBoost baseline's single-row prediction, all timed in the same run).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from typing import Any

from bench.common import REPO, tasklab, write_result
from tasklab.baselines.models import BASELINES
from tasklab.baselines.results import ComparisonResult
from tasklab.core.config import load_config
from tasklab.core.run_dir import RunDir
from tasklab.export.results import ExportResult
from tasklab.tasks import get_task

CONFIGS = REPO / "configs"
# Each shipped config's target on the validation split: a little under what the whole run
# reaches, so it is a point on the way rather than the end of training.
TARGETS = {
    "digits": "val_accuracy >= 0.95",
    "digits_quick": "val_accuracy >= 0.95",
    "breast_cancer": "val_accuracy >= 0.95",
    "diabetes": "val_rmse <= 52",
    "fortunes_lang": "val_accuracy >= 0.99",
    "fortunes_topics": "val_accuracy >= 0.4",
    "fortunes_topics_quick": "val_accuracy >= 0.4",
    "spoken_words": "val_accuracy >= 0.85",
    "spoken_words_quick": "val_accuracy >= 0.6",
    "textured_shapes": "val_mean_iou >= 0.65",
}


def run_to_target(name: str, runs_dir: Path, settings: list[str]) -> tuple[dict, dict | None]:
    """Runs one shipped config to its target; returns its time-to-accuracy row and edge rows."""
    config_path = CONFIGS / f"{name}.yaml"
    shipped = load_config(config_path)
    task_cls = get_task(shipped.task)
    # XGBoost where it takes the task's inputs; text has none here (XGBoost on TF-IDF takes
    # minutes on the fortunes corpora: the run's own baselines.json times it).
    baseline = "xgboost" if task_cls.data_kind in BASELINES.get("xgboost").inputs else None
    done = tasklab(
        "run",
        config_path,
        [
            f"train.stop_at={TARGETS[name]}",
            f"baselines=[{baseline or ''}]",
            "compare.cv_max_rows=0",
            "explain.methods=[]",
            *settings,
        ],
        runs_dir,
    )
    metrics = done.metrics()
    primary = metrics.primary_metric
    fitted = None
    if baseline:
        fitted = ComparisonResult.read(RunDir(done.run_dir).baselines).model(baseline)
    reached = metrics.target_reached
    row = {
        "config": name,
        "target": TARGETS[name],
        "reached": reached is not None,
        "epoch": reached["epoch"] if reached else None,
        "seconds_to_target": reached["seconds"] if reached else None,
        "epochs_run": metrics.epochs_run,
        "max_epochs": shipped.train.epochs,
        "examples_per_second": metrics.examples_per_second,
        "test_metric": primary,
        "test_value": metrics.test[primary],
        "baseline": baseline,
        "baseline_fit_seconds": fitted.fit_seconds if fitted else None,
        "baseline_test_value": fitted.metrics[primary] if fitted else None,
        "run_wall_seconds": round(done.wall_seconds, 1),
        "run_peak_rss_mib": round(done.peak_rss_mib),
    }
    export_file = RunDir(done.run_dir).export
    edge = edge_rows(name, ExportResult.read(export_file)) if export_file.is_file() else None
    return row, edge


def edge_rows(name: str, export: ExportResult) -> dict[str, Any]:
    """The edge figures of one run's `export.json`: sizes and latencies, as ratios.

    Returns:
        The Keras and XGBoost references and one row per LiteRT variant.
    """
    keras_ms = export.keras.latency_ms_median
    xgboost_ms = export.xgboost.latency_ms_median if export.xgboost else None
    variants = []
    # Every variant in the bundle, the int8 triage's retries (when int8 failed its gate) too.
    for variant in export.variants:
        latency = variant.latency_ms_median
        variants.append(
            {
                "variant": variant.name,
                "size_bytes": variant.size_bytes,
                "size_vs_float32": variant.size_ratio,
                "size_vs_keras_file": variant.size_bytes / export.keras.size_bytes,
                "latency_ms": latency,
                "latency_vs_keras": latency / keras_ms,
                "latency_vs_xgboost": latency / xgboost_ms if xgboost_ms else None,
                "agreement": variant.agreement,
                "passed": variant.passed,
            }
        )
    return {
        "config": name,
        "keras": {"size_bytes": export.keras.size_bytes, "latency_ms": keras_ms},
        "xgboost": (
            {"size_bytes": export.xgboost.size_bytes, "latency_ms": xgboost_ms}
            if export.xgboost
            else None
        ),
        "variants": variants,
    }


def main(argv: list[str] | None = None) -> dict:
    """Runs the configs and writes both results files.

    Returns:
        `{"time_to_accuracy": rows, "edge": rows}` as written.
    """
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--configs", nargs="+", default=list(TARGETS), choices=list(TARGETS))
    parser.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="extra settings"
    )
    args = parser.parse_args(argv)

    rows, edges = [], []
    with tempfile.TemporaryDirectory(prefix="tasklab-bench-") as tmp:
        for name in args.configs:
            print(f"{name}: training to {TARGETS[name]}", flush=True)
            row, edge = run_to_target(name, Path(tmp), args.set)
            rows.append(row)
            if edge is not None:
                edges.append(edge)
            when = (
                f"reached in {row['seconds_to_target']:.1f} s (epoch {row['epoch']})"
                if row["reached"]
                else f"not reached in {row['epochs_run']} epochs"
            )
            baseline = (
                f"; {row['baseline']} {row['baseline_test_value']:.4g} in "
                f"{row['baseline_fit_seconds']:.1f} s"
                if row["baseline"]
                else ""
            )
            print(
                f"{name}: {when}; test {row['test_metric']} {row['test_value']:.4g}{baseline}",
                flush=True,
            )
    print(write_result("time_to_accuracy", {"configs": rows}))
    print(write_result("edge", {"configs": edges}))
    return {"time_to_accuracy": rows, "edge": edges}


if __name__ == "__main__":
    main()
