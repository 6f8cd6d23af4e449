"""The Performance tables: `bench/results/*.json` as Markdown, written into the README.

    .venv/bin/python -m bench.summary [--readme README.md]

Replaces what lies between `<!-- bench:start -->` and `<!-- bench:end -->` in
the README with one table per benchmark (a benchmark not yet run is named as
such), and writes the same Markdown to `bench/results/summary.md`.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import common
from tasklab.core import io

START, END = "<!-- bench:start -->", "<!-- bench:end -->"


def overhead_table(result: dict[str, Any]) -> list[str]:
    """tasklab vs plain Keras, and the input pipeline vs the step."""
    lines = _header(
        "case",
        "tasklab examples/s",
        "plain Keras examples/s",
        "ratio",
        "tasklab, cosine schedule",
        "input pipeline / step",
    )
    for name, case in result["cases"].items():
        lines.append(
            f"| {name} ({case['epochs']} epochs, {case['parameters']:,} parameters) "
            f"| {_best(case['tasklab_examples_per_second'])} "
            f"| {_best(case['plain_examples_per_second'])} "
            f"| **{case['ratio']:.2f}** "
            f"| {_best(case['tasklab_cosine_examples_per_second'])} "
            f"(x{case['cosine_vs_constant']:.2f}) "
            f"| {case['pipeline_examples_per_second']:,.0f} / "
            f"{case['step_examples_per_second']:,.0f} = {case['pipeline_vs_step']:.1f}x |"
        )
    return lines


def time_to_accuracy_table(result: dict[str, Any]) -> list[str]:
    """Seconds to each shipped config's target, and the XGBoost-first baseline."""
    lines = _header(
        "config", "target", "reached after", "test", "baseline (fit)", "run wall, peak RSS"
    )
    for row in result["configs"]:
        reached = (
            f"**{row['seconds_to_target']:.1f} s** (epoch {row['epoch']} of {row['max_epochs']})"
            if row["reached"]
            else f"not reached in {row['epochs_run']} epochs"
        )
        lines.append(
            f"| {row['config']} | `{row['target']}` | {reached} "
            f"| {row['test_metric']} {row['test_value']:.4g} | {_baseline(row)} "
            f"| {row['run_wall_seconds']:.0f} s, {row['run_peak_rss_mib']:,} MiB |"
        )
    return lines


def edge_table(result: dict[str, Any]) -> list[str]:
    """Per LiteRT variant: size and single-example latency, as ratios to Keras and XGBoost."""
    lines = _header(
        "config", "model", "size", "x float32 size", "latency", "x Keras", "x XGBoost", "agreement"
    )
    for entry in result["configs"]:
        name, keras_ms, xgboost = entry["config"], entry["keras"]["latency_ms"], entry["xgboost"]
        xgboost_ms = xgboost["latency_ms"] if xgboost else None
        lines.append(
            f"| {name} | Keras `predict_on_batch` | {_kib(entry['keras']['size_bytes'])} | | "
            f"{_ms(keras_ms)} | 1 | {_ratio(keras_ms, xgboost_ms)} | |"
        )
        if xgboost:
            lines.append(
                f"| {name} | XGBoost `predict_proba` / `predict` | {_kib(xgboost['size_bytes'])} "
                f"| | {_ms(xgboost_ms)} | {_ratio(xgboost_ms, keras_ms)} | 1 | |"
            )
        for row in entry["variants"]:
            lines.append(
                f"| {name} | LiteRT {row['variant']} | {_kib(row['size_bytes'])} "
                f"| {row['size_vs_float32']:.2f} | {_ms(row['latency_ms'])} "
                f"| {_ratio(row['latency_ms'], keras_ms)} "
                f"| {_ratio(row['latency_ms'], xgboost_ms)} | {_agreement(row)} |"
            )
    return lines


def growth_table(result: dict[str, Any]) -> list[str]:
    """Training time and peak memory against the dataset's size."""
    lines = _header("images", "fit seconds", "later epochs seconds", "examples/s", "peak RSS")
    for row in result["sizes"]:
        lines.append(
            f"| {row['images']:,} | {row['train_seconds']:.1f} | "
            f"{row['later_epochs_seconds']:.1f} | {row['examples_per_second']:,.0f} | "
            f"{row['peak_rss_mib']:,.0f} MiB |"
        )
    lines.append(
        f"| fitted exponent / ratio | **{result['time_exponent']:.2f}** | "
        f"**{result['later_epochs_time_exponent']:.2f}** | | "
        f"**x{result['peak_rss_ratio']:.2f}** for x{result['size_ratio']:.0f} the data |"
    )
    line = result["later_epochs_linear_fit"]
    lines.append(
        f"| straight line (later epochs) | | {line['fixed_seconds']:.2f} s + "
        f"{line['seconds_per_1000']:.2f} s per 1,000 images, r² {line['r_squared']:.3f} | | |"
    )
    return lines


def scaling_table(result: dict[str, Any]) -> list[str]:
    """Examples per second with 1 and 2 replicas and workers."""
    setups, ratios = result["setups"], result["ratios"]
    lines = _header("setup", "examples/s")
    lines += [f"| {name} | {row['examples_per_second']:,.1f} |" for name, row in setups.items()]
    lines.append(
        f"| ratios | 2 mirrored / 1 device **{ratios['mirrored_2_vs_cpu']:.2f}**, "
        f"2 workers / 1 **{ratios['workers_2_vs_1']:.2f}**, loop / fit "
        f"{ratios['loop_vs_fit']:.2f} |"
    )
    return lines


def explain_table(result: dict[str, Any]) -> list[str]:
    """Time per example of each explanation method."""
    lines = _header("method", "data", "ms per example", "x the model's prediction")
    for row in result["results"]:
        lines.append(
            f"| {row['method']} | {row['data']} | {row['ms_per_example']:.2f} "
            f"| {row['ratio_to_predict']:,.0f} |"
        )
    return lines


def first_run_table(result: dict[str, Any]) -> list[str]:
    """A shipped config's whole run against its training time, with and without the budget."""
    lines = _header("run", "wall", "training", "wall / training", "stages (s)", "verdict")
    for name, label in (("shipped", "as shipped"), ("full_refits", "compare.cv_budget=null")):
        row = result.get(name)
        if row is None:
            continue
        stages = ", ".join(
            f"{stage} {seconds:.0f}" for stage, seconds in row["stage_seconds"].items()
        )
        refits = f"; refits {row['refit_epochs']} epochs" if row.get("refit_epochs") else ""
        lines.append(
            f"| {result['config']}, {label}{refits} | {row['wall_seconds']:.0f} s "
            f"| {row['train_seconds']:.0f} s | **x{row['wall_over_training']:.2f}** | {stages} "
            f"| {row['verdict']} |"
        )
    return lines


# Each benchmark: its results file, its heading, its table and the command that measures it.
SECTIONS: list[tuple[str, str, Callable[[dict], list[str]], str]] = [
    (
        "first_run",
        "The first run: the whole default run vs its training",
        first_run_table,
        "bench.first_run",
    ),
    ("overhead", "Overhead: tasklab vs a plain Keras script", overhead_table, "bench.overhead"),
    (
        "time_to_accuracy",
        "Time to accuracy (validation target) of every shipped config",
        time_to_accuracy_table,
        "bench.time_to_accuracy",
    ),
    ("edge", "Edge: LiteRT variants, single-example latency", edge_table, "bench.time_to_accuracy"),
    ("growth", "Growth with the data (streamed image folder)", growth_table, "bench.growth"),
    ("scaling", "Replicas and workers", scaling_table, "bench.scaling"),
    ("explain_cost", "Explanations", explain_table, "bench.explain_cost"),
]


def summary_markdown(results_dir: Path) -> str:
    """Every benchmark's table, from the results files in `results_dir`."""
    lines = []
    for name, heading, table, module in SECTIONS:
        lines += ["", f"**{heading}** (`python -m {module}`)", ""]
        path = results_dir / f"{name}.json"
        if not path.is_file():
            lines.append(f"Not measured yet: run `make bench` (or `python -m {module}`).")
            continue
        result = io.read_json(path)
        lines += table(result)
        machine = result["machine"]
        lines += [
            "",
            f"<sub>{result['measured']}, {machine['cpu']} ({machine['cpus']} CPUs, "
            f"{machine['memory_gib']} GiB), TensorFlow {result['versions']['tensorflow']}, "
            f"Keras {result['versions']['keras']}.</sub>",
        ]
    return "\n".join(lines).strip() + "\n"


def replace_between_markers(text: str, body: str) -> str:
    """`text` with what lies between the bench markers replaced by `body`.

    Raises:
        ValueError: when the markers are missing or out of order.
    """
    start, end = text.find(START), text.find(END)
    if start < 0 or end < start:
        raise ValueError(
            f"The README has no '{START}' ... '{END}' block for the tables; add one to its "
            "Performance section."
        )
    return text[: start + len(START)] + "\n" + body + text[end:]


def main(argv: list[str] | None = None) -> str:
    """Writes the tables into the README and `bench/results/summary.md`.

    Returns:
        The Markdown written.
    """
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--readme", type=Path, default=common.REPO / "README.md")
    args = parser.parse_args(argv)
    body = summary_markdown(common.RESULTS_DIR)
    io.write_text(common.RESULTS_DIR / "summary.md", body)
    readme = args.readme.read_text(encoding="utf-8")
    io.write_text(args.readme, replace_between_markers(readme, body))
    print(body)
    return body


def _header(*columns: str) -> list[str]:
    """A Markdown table's header and separator rows."""
    return ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]


def _best(values: list[float]) -> str:
    return f"{max(values):,.0f}" + (f" (of {len(values)})" if len(values) > 1 else "")


def _kib(size: int) -> str:
    return f"{size / 1024:,.0f} KiB" if size >= 10 * 1024 else f"{size / 1024:,.1f} KiB"


def _ms(milliseconds: float) -> str:
    return f"{milliseconds:.3g} ms"


def _ratio(value: float, reference: float | None) -> str:
    return "-" if reference is None else f"{value / reference:.3g}"


def _agreement(row: dict[str, Any]) -> str:
    agreement = row["agreement"]
    shown = "-" if agreement is None else f"{agreement:.4f}"
    return shown if row["passed"] else f"{shown} (failed its gate)"


def _baseline(row: dict[str, Any]) -> str:
    if not row["baseline"]:
        return "-"
    return (
        f"{row['baseline']} {row['baseline_test_value']:.4g} ({row['baseline_fit_seconds']:.1f} s)"
    )


if __name__ == "__main__":
    main()
