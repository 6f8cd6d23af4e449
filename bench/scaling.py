"""Training throughput with 1 vs 2 replicas (logical CPU devices) and 1 vs 2 workers.

    .venv/bin/python -m bench.scaling [--config configs/digits.yaml] [--epochs 10]

Trains the same config four ways, one after the other in this run, as a user
would (the `tasklab` command): Keras `fit` on one device (`cpu`), `fit` on 2
mirrored replicas, and the multi-worker loop with 1 and with 2 worker
processes (`tasklab launch`). Early stopping is off, so every run trains the
same number of epochs; `train.batch_size` is per replica, so 2 replicas or
workers take global batches twice as large. Prints examples per second and the
ratios (2 vs 1) and writes `bench/results/scaling.json`.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from bench.common import TRAIN_ONLY, tasklab, write_result

# Each setup: the `tasklab` sub-command and its own settings.
SETUPS = {
    "cpu": ("run", ["strategy.name=cpu"]),
    "mirrored_2": ("run", ["strategy.name=mirrored", "strategy.devices=2"]),
    "workers_1": ("launch --workers 1", []),
    "workers_2": ("launch --workers 2", []),
}


def main(argv: list[str] | None = None) -> dict:
    """Runs the four setups and writes the results.

    Returns:
        What `bench/results/scaling.json` holds.
    """
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default="configs/digits.yaml")
    parser.add_argument("--epochs", type=int, default=10)
    args = parser.parse_args(argv)

    rows = {}
    with tempfile.TemporaryDirectory(prefix="tasklab-bench-") as tmp:
        for name, (command, settings) in SETUPS.items():
            settings = [*settings, f"train.epochs={args.epochs}", *TRAIN_ONLY]
            metrics = tasklab(command, args.config, settings, Path(tmp) / name).metrics()
            rows[name] = {
                "examples_per_second": metrics.examples_per_second,
                "train_seconds": metrics.train_seconds,
                "replicas": metrics.replicas,
                "workers": metrics.workers,
                "test_" + metrics.primary_metric: metrics.primary_value,
            }
            print(f"{name:<11} {metrics.examples_per_second:>9.1f} examples/s", flush=True)
    speed = {name: row["examples_per_second"] for name, row in rows.items()}
    ratios = {
        "mirrored_2_vs_cpu": speed["mirrored_2"] / speed["cpu"],
        "workers_2_vs_1": speed["workers_2"] / speed["workers_1"],
        "loop_vs_fit": speed["workers_1"] / speed["cpu"],
    }
    for name, value in ratios.items():
        print(f"{name:<18} {value:.2f}")
    result = {
        "config": args.config,
        "epochs": args.epochs,
        "setups": rows,
        "ratios": {k: round(v, 3) for k, v in ratios.items()},
    }
    print(write_result("scaling", result))
    return result


if __name__ == "__main__":
    main()
