"""The `tasklab` command line: `run`, `launch`, `explain`, `export`, `report`, `datasets` and
`schema`.

Errors a user can fix (config, data, strategy, a model that needs Flex ops, a
diverged loss, an artifact that cannot be written) print one `error:` line and
exit with status 2; `tasklab export --strict` exits with status 1 when a
variant fails its parity gate, and `tasklab launch` with status 1 when a worker
fails; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import logging
import os
import sys
from collections.abc import Sequence

from tasklab.core.errors import UserError
from tasklab.core.native_logs import filtered_stderr
from tasklab.core.run_dir import RunDir

EXIT_USAGE = 2
EXIT_GATE = 1
EXIT_WORKER_FAILED = 1
# Listed statically so `--help` needs no TensorFlow import; a test keeps it in sync
# with the registry.
EXPLAIN_METHODS = (
    "gradient",
    "smoothgrad",
    "integrated_gradients",
    "grad_cam",
    "keras_shap",
    "tree_shap",
    "token_integrated_gradients",
)


def build_parser() -> argparse.ArgumentParser:
    """Returns the argument parser with its sub-commands."""
    parser = argparse.ArgumentParser(
        prog="tasklab",
        description="Train Keras models for applied tasks, evaluate them and write a report.",
        epilog="Start with `tasklab run digits` (a bundled config, a few minutes on a laptop).",
    )
    parser.add_argument("--version", action="version", version=f"tasklab {_version()}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser(
        "run",
        help="train and evaluate the experiment in a YAML config",
        description="Train and evaluate the experiment in CONFIG; print the run directory last. "
        "An interrupted run of the same config is resumed unless --fresh is given.",
    )
    run.add_argument("config", help="the YAML experiment config, e.g. configs/digits.yaml")
    _add_set_option(
        run,
        "KEY=VALUE",
        "override a config value; the value is parsed as YAML "
        "(e.g. --set train.epochs=5 --set strategy.name=mirrored). Repeatable.",
    )
    _add_run_dir_options(run)

    launch = commands.add_parser(
        "launch",
        help="run a multi-worker training run with N local worker processes",
        description="Start N `tasklab run CONFIG` workers on 127.0.0.1 (free ports, a TF_CONFIG "
        "each, strategy.name=multi_worker), stream their output with a [worker N] prefix, and "
        "stop them all if one fails. Worker 0 is the chief and writes the run directory, printed "
        "last. Running the same command again resumes an interrupted run.",
    )
    launch.add_argument("config", help="the YAML experiment config, e.g. configs/digits.yaml")
    launch.add_argument(
        "--workers", type=int, required=True, metavar="N", help="worker processes to start"
    )
    _add_set_option(
        launch, "KEY=VALUE", "override a config value in every worker (as for run). Repeatable."
    )
    _add_run_dir_options(launch)

    explain = commands.add_parser(
        "explain",
        help="explain a trained run's predictions and check the explanations",
        description="Explain test examples of RUN_DIR with each method (SHAP, gradients, "
        "SmoothGrad, Integrated Gradients, Grad-CAM), run the sanity checks (model "
        "randomization, deletion, additivity or completeness), and write explain.json, "
        "RUN_DIR/explain/*.png and the report's explanation section.",
    )
    explain.add_argument("run_dir", help="a run directory printed by `tasklab run`")
    explain.add_argument(
        "--examples",
        type=int,
        metavar="N",
        help="test examples to explain (default: the config's, else 16 images or 1000 rows)",
    )
    explain.add_argument(
        "--methods",
        nargs="+",
        metavar="METHOD",
        help=f"the methods to run, of: {' '.join(EXPLAIN_METHODS)} (default: the task's)",
    )
    _add_set_option(
        explain,
        "explain.KEY=VALUE",
        "override an explain setting, e.g. --set explain.ig_steps=128. Repeatable.",
    )

    export = commands.add_parser(
        "export",
        help="export a trained run to LiteRT, check every variant against Keras, time it",
        description="Convert RUN_DIR's model to the LiteRT variants, run each on the whole test "
        "split (the parity gate), time it, and write RUN_DIR/export/ (the edge bundle), "
        "export.json and the report's export table.",
    )
    export.add_argument("run_dir", help="a run directory printed by `tasklab run`")
    export.add_argument(
        "--variants",
        nargs="+",
        metavar="VARIANT",
        help="the variants to export: float32 float16 dynamic_int8 int8 (default: the config's)",
    )
    _add_set_option(
        export,
        "export.KEY=VALUE",
        "override an export setting, e.g. --set export.int8.min_agreement=0.99 "
        "or --set export.allow_flex=true. Repeatable.",
    )
    export.add_argument(
        "--strict",
        action="store_true",
        help=f"exit with status {EXIT_GATE} when a variant fails its parity gate",
    )

    commands.add_parser(
        "datasets",
        help="list the built-in datasets",
        description="List the offline built-in datasets (data.uri: builtin:NAME), a line each.",
    )

    schema = commands.add_parser(
        "schema",
        help="print the JSON Schema of the YAML config, for editors",
        description="Print the JSON Schema (draft 2020-12) of tasklab's YAML config, or write "
        "it to FILE: an editor that knows it validates a config as it is typed and completes "
        "its keys and values, with their descriptions and defaults. With the YAML language "
        "server (VS Code's YAML extension, ...), start a config with the line "
        "`# yaml-language-server: $schema=FILE`.",
    )
    schema.add_argument(
        "--output",
        "-o",
        metavar="FILE",
        help="write the schema to FILE (atomically) and print its path, instead of printing "
        "the schema",
    )

    report = commands.add_parser(
        "report",
        help="rebuild a run's report.html from its JSON results",
        description="Rebuild RUN_DIR/report.html from the JSON results alone (no retraining).",
    )
    report.add_argument("run_dir", help="a run directory printed by `tasklab run`")
    return parser


def _add_run_dir_options(parser: argparse.ArgumentParser) -> None:
    """`--runs-dir` and `--fresh`, of the commands that start (or resume) a run."""
    parser.add_argument(
        "--runs-dir", default="runs", help="parent of the run directories (default: runs)"
    )
    parser.add_argument(
        "--fresh",
        action="store_true",
        help="start a new run even if an identical one was interrupted",
    )


def _add_set_option(parser: argparse.ArgumentParser, metavar: str, help_text: str) -> None:
    """The repeatable `--set KEY=VALUE` override option (collected in `args.overrides`)."""
    parser.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar=metavar, help=help_text
    )


def _not_retracing_advice(record: logging.LogRecord) -> bool:
    """Drops TensorFlow's retracing warning: explanations and export predict on batches of
    several shapes on purpose, and its advice (a paragraph on `tf.function`) is for the
    author of the code, not for a user of the command."""
    return "triggered tf.function retracing" not in record.getMessage()


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the CLI.

    Args:
        argv: the arguments (default: `sys.argv[1:]`).

    Returns:
        The process exit status.
    """
    args = build_parser().parse_args(argv)
    # Quiet TensorFlow's C++ start-up chatter unless the user asked for it.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    logging.basicConfig(level=logging.INFO, format="tasklab: %(message)s", stream=sys.stderr)
    # TensorFlow's own Python logger is chatty at INFO (a line per collective under multi_worker).
    logging.getLogger("tensorflow").setLevel(logging.WARNING)
    logging.getLogger("tensorflow").addFilter(_not_retracing_advice)
    # TensorFlow is imported by the commands that need it, inside the filter.
    with filtered_stderr():
        try:
            return _COMMANDS[args.command](args)
        except (UserError, LookupError, FileNotFoundError) as error:
            print(f"error: {error}", file=sys.stderr)
            return EXIT_USAGE


def _version() -> str:
    try:
        return importlib.metadata.version("tasklab")
    except importlib.metadata.PackageNotFoundError:  # Run from a source tree, not installed.
        return "unknown"


def _run(args: argparse.Namespace) -> int:
    from tasklab.core.config import load_config

    config = load_config(args.config, args.overrides)  # Before TensorFlow: errors answer at once.
    from tasklab.pipelines.run import run

    result = run(config, runs_dir=args.runs_dir, fresh=args.fresh)
    if result.run_dir is None:
        return 0  # A multi-worker run's other worker: the chief reports.
    metrics = result.metrics
    primary = metrics.primary_metric
    low, high = metrics.intervals[primary]
    print(
        f"test {primary} {metrics.primary_value:.4f} (95% CI {low:.4f}-{high:.4f}); "
        f"report: {RunDir(result.run_dir).report}"
    )
    print(result.run_dir)
    return 0


def _launch(args: argparse.Namespace) -> int:
    from tasklab.core.config import load_config
    from tasklab.training.launch import LaunchError, launch

    if args.workers < 1:
        print(f"error: --workers must be >= 1. Received: {args.workers}.", file=sys.stderr)
        return EXIT_USAGE
    # A bad config fails here, once, rather than in every worker.
    load_config(args.config, [*args.overrides, "strategy.name=multi_worker"])
    try:
        run_dir = launch(args.config, args.workers, args.overrides, args.runs_dir, args.fresh)
    except LaunchError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_WORKER_FAILED
    print(run_dir)
    return 0


def _export(args: argparse.Namespace) -> int:
    from tasklab.export.stage import ExportGateError, enforce_gate
    from tasklab.pipelines.run import export_run

    overrides = list(args.overrides)
    if args.variants:
        overrides.append(f"export.variants=[{','.join(args.variants)}]")
    result = export_run(args.run_dir, overrides)
    for entry in result.variants:
        agreement = "n/a" if entry.agreement is None else f"{entry.agreement:.4f}"
        print(
            f"{entry.name:<18} {entry.size_bytes:>10,} B  agreement {agreement}  "
            f"{entry.latency_ms_median:.3f} ms  {'passed' if entry.passed else 'FAILED'}"
        )
    print(f"{args.run_dir.rstrip('/')}/export")
    if args.strict:
        try:
            enforce_gate(result)
        except ExportGateError as error:
            print(f"error: {error}", file=sys.stderr)
            return EXIT_GATE
    return 0


def _explain(args: argparse.Namespace) -> int:
    from tasklab.pipelines.run import explain_run

    overrides = list(args.overrides)
    if args.examples is not None:
        overrides.append(f"explain.examples={args.examples}")
    if args.methods:
        overrides.append(f"explain.methods=[{','.join(args.methods)}]")
    result = explain_run(args.run_dir, overrides)
    for method in result.methods:
        print(f"{method.name:<22} {method.model:<8} {method.summary_line()}")
    print(f"{args.run_dir.rstrip('/')}/explain.json")
    return 0


def _datasets(args: argparse.Namespace) -> int:
    from tasklab.core.catalog import BUILTINS  # No TensorFlow: the catalog only.

    # Columns as wide as their longest entry: kinds and problems grow with the tasks.
    width = {
        "name": max(len(f"builtin:{name}") for name in BUILTINS),
        "kind": max(len(entry.kind) for entry in BUILTINS.values()),
        "problem": max(len(entry.problem) for entry in BUILTINS.values()),
    }
    for name, entry in BUILTINS.items():
        print(
            f"{'builtin:' + name:<{width['name']}} {entry.kind:<{width['kind']}} "
            f"{entry.problem:<{width['problem']}} {entry.description}"
        )
    return 0


def _schema(args: argparse.Namespace) -> int:
    from tasklab.core import io
    from tasklab.core.config_schema import config_schema  # No TensorFlow: the config only.

    schema = config_schema()
    if args.output is None:
        print(json.dumps(schema, indent=2))
    else:
        print(io.write_json(args.output, schema))
    return 0


def _report(args: argparse.Namespace) -> int:
    from tasklab.pipelines.report import write_report

    print(write_report(args.run_dir))
    return 0


_COMMANDS = {
    "run": _run,
    "launch": _launch,
    "explain": _explain,
    "export": _export,
    "datasets": _datasets,
    "schema": _schema,
    "report": _report,
}


if __name__ == "__main__":
    sys.exit(main())
