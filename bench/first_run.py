"""The first run a new user makes: a shipped config's whole run against its own training time.

    .venv/bin/python -m bench.first_run [--config digits] [--shipped-only] [--set KEY=VALUE ...]

Runs `tasklab run CONFIG` as shipped, every stage included (training, the
comparison with its 5 x 2 cross-validation, explanations, export, report), in
a fresh process, as a user does. The run's own training time is `metrics.json`'s
`train_seconds`; the ratio wall time / training time is what everything else a
run does costs, in units of its training. The manifest's `stage_seconds` say
where the time went.

Then (unless `--shipped-only`) the same config runs again with `compare.cv_budget=null`
(every cross-validation fold refitted for `train.epochs`, as before the budget),
side by side in the same benchmark: the two verdicts, their p-values and the
Keras model's mean fold score show what the budget changes.

Writes `bench/results/first_run.json`.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from typing import Any

from bench.common import tasklab, write_result
from tasklab.baselines.results import ComparisonResult
from tasklab.core import io
from tasklab.core.run_dir import RunDir


def measure(config: str, settings: list[str], runs_dir: Path) -> dict[str, Any]:
    """Runs one config end to end; returns its wall time, training time, stages and verdict."""
    done = tasklab("run", config, settings, runs_dir)
    metrics = done.metrics()
    manifest = io.read_json(RunDir(done.run_dir).manifest)
    comparison_file = RunDir(done.run_dir).baselines
    comparison = ComparisonResult.read(comparison_file) if comparison_file.is_file() else None
    keras_cv = comparison.keras.cv if comparison else None
    cv = comparison.protocol.cv if comparison else None
    return {
        "settings": settings,
        "wall_seconds": round(done.wall_seconds, 1),
        "train_seconds": metrics.train_seconds,
        "wall_over_training": round(done.wall_seconds / metrics.train_seconds, 2),
        "peak_rss_mib": round(done.peak_rss_mib),
        "stage_seconds": manifest.get("stage_seconds", {}),
        "test": {metrics.primary_metric: metrics.primary_value},
        "verdict": comparison.verdict if comparison else None,
        "p_value": comparison.test.p_value if comparison and comparison.test else None,
        "keras_cv_mean": keras_cv.mean if keras_cv else None,
        "refit_epochs": cv.keras_refit.epochs if cv else None,
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Runs the benchmark; returns what `first_run.json` holds."""
    parser = argparse.ArgumentParser(prog="python -m bench.first_run", description=__doc__)
    parser.add_argument("--config", default="digits", help="a shipped config name or a file")
    parser.add_argument(
        "--shipped-only",
        action="store_true",
        help="skip the second run with compare.cv_budget=null (the verdict without the budget)",
    )
    parser.add_argument(
        "--set", dest="settings", action="append", default=[], metavar="KEY=VALUE",
        help="an override for every run (e.g. train.epochs=5 for a quick check)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as runs:
        result: dict[str, Any] = {
            "config": args.config,
            "shipped": measure(args.config, args.settings, Path(runs)),
        }
        if not args.shipped_only:
            full = [*args.settings, "compare.cv_budget=null"]
            result["full_refits"] = measure(args.config, full, Path(runs))
    shipped = result["shipped"]
    print(
        f"{args.config}: {shipped['wall_seconds']:.0f} s in all, {shipped['train_seconds']:.0f} s "
        f"of training: x{shipped['wall_over_training']:.2f}; stages {shipped['stage_seconds']}"
    )
    print(f"  verdict: {shipped['verdict']}")
    if "full_refits" in result:
        full = result["full_refits"]
        print(
            f"  full refits: {full['wall_seconds']:.0f} s, x{full['wall_over_training']:.2f}; "
            f"verdict: {full['verdict']}"
        )
    write_result("first_run", result)
    return result


if __name__ == "__main__":
    main()
