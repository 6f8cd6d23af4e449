"""Growth: training time and peak memory against the size of a streamed image-folder dataset.

    .venv/bin/python -m bench.growth [--sizes 1000 4000 16000] [--epochs 3]

Generates folders of 16x16 PNGs of shapes (`bench/images.py`) at each size and
trains the small CNN on each with `tasklab run` in a fresh process (other
stages off, the same epochs). Images are streamed from disk, never held in
memory whole, so training time should grow linearly with the data and peak
memory stay flat. Prints and records:

- the exponent `b` of `time = a * size^b` fitted by least squares on the
  logarithms (`scipy.stats.linregress`), for `fit`'s wall time and for the
  time of the epochs after the first (which excludes tracing, a fixed cost);
- for the later epochs, a straight line `fixed + per_1000 * size / 1000`
  and its r^2: fixed costs per epoch bend the exponent below 1 on small
  data, the line shows whether each further image costs the same;
- the peak resident memory (RSS) of each run, and the ratio of the largest
  dataset's to the smallest's.

Writes `bench/results/growth.json`.
"""

from __future__ import annotations

import argparse
import math
import tempfile
from pathlib import Path

from scipy import stats

from bench.common import tasklab, write_result
from bench.images import folder_config, write_shapes_folder
from tasklab.core import io
from tasklab.core.run_dir import RunDir


def fitted_exponent(sizes: list[int], seconds: list[float]) -> float:
    """The slope of log(seconds) against log(size): 1 is linear growth."""
    return float(
        stats.linregress([math.log(s) for s in sizes], [math.log(t) for t in seconds]).slope
    )


def linear_fit(sizes: list[int], seconds: list[float]) -> dict[str, float]:
    """`seconds = fixed + per_1000 * size / 1000` by least squares, and how well it fits (r^2).

    A fixed cost per epoch (starting the input pipeline and the validation
    pass, the backup) bends the log-log exponent below 1 on small data; a
    straight line with an intercept shows whether the cost of more data is linear.
    """
    fit = stats.linregress(sizes, seconds)
    return {
        "fixed_seconds": float(fit.intercept),
        "seconds_per_1000": float(fit.slope * 1000),
        "r_squared": float(fit.rvalue**2),
    }


def measure(size: int, epochs: int, tmp: Path) -> dict:
    """Generates a dataset of `size` images and trains on it; returns the row."""
    root = write_shapes_folder(tmp / f"shapes-{size}", size)
    config = folder_config(root, tmp / f"shapes-{size}.yaml", epochs, name=f"shapes{size}")
    done = tasklab("run", config, [], tmp / "runs")
    metrics = done.metrics()
    history = io.read_json(RunDir(done.run_dir).history)
    return {
        "images": size,
        "train_examples": metrics.splits["train"],
        "train_seconds": metrics.train_seconds,
        "later_epochs_seconds": history[-1]["seconds"] - history[0]["seconds"],
        "examples_per_second": metrics.examples_per_second,
        "run_wall_seconds": round(done.wall_seconds, 1),
        "peak_rss_mib": round(done.peak_rss_mib, 1),
        "test_accuracy": metrics.test["accuracy"],
    }


def main(argv: list[str] | None = None) -> dict:
    """Measures every size and writes the results.

    Returns:
        What `bench/results/growth.json` holds (without the machine and versions).
    """
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 4000, 16000])
    parser.add_argument("--epochs", type=int, default=3, help=">= 2: later epochs are timed too")
    args = parser.parse_args(argv)
    if args.epochs < 2 or len(args.sizes) < 2:
        parser.error("growth needs --epochs >= 2 and at least two --sizes")

    rows = []
    with tempfile.TemporaryDirectory(prefix="tasklab-bench-") as tmp:
        for size in sorted(args.sizes):
            rows.append(measure(size, args.epochs, Path(tmp)))
            row = rows[-1]
            print(
                f"{size:>7} images: fit {row['train_seconds']:.1f} s "
                f"({row['examples_per_second']:.0f} examples/s), "
                f"peak RSS {row['peak_rss_mib']:.0f} MiB",
                flush=True,
            )
    sizes = [row["images"] for row in rows]
    result = {
        "epochs": args.epochs,
        "sizes": rows,
        "time_exponent": fitted_exponent(sizes, [row["train_seconds"] for row in rows]),
        "later_epochs_time_exponent": fitted_exponent(
            sizes, [row["later_epochs_seconds"] for row in rows]
        ),
        "later_epochs_linear_fit": linear_fit(sizes, [row["later_epochs_seconds"] for row in rows]),
        "peak_rss_ratio": rows[-1]["peak_rss_mib"] / rows[0]["peak_rss_mib"],
        "size_ratio": sizes[-1] / sizes[0],
    }
    line = result["later_epochs_linear_fit"]
    print(
        f"later epochs: {line['fixed_seconds']:.2f} s + {line['seconds_per_1000']:.2f} s per "
        f"1,000 images (r^2 {line['r_squared']:.3f})"
    )
    print(
        f"time exponent {result['time_exponent']:.2f} (later epochs "
        f"{result['later_epochs_time_exponent']:.2f}); peak RSS x{result['peak_rss_ratio']:.2f} "
        f"for x{result['size_ratio']:.0f} the data"
    )
    print(write_result("growth", result))
    return result


if __name__ == "__main__":
    main()
