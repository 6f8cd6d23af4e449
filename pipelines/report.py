"""report.html from the run directory's JSON alone: `tasklab report RUN_DIR` needs no retraining."""

from __future__ import annotations

import base64
import dataclasses
from pathlib import Path
from typing import TypeVar

import jinja2
import matplotlib
import yaml

from tasklab.core.run_dir import RunDir

matplotlib.use("Agg")  # Files only; never a window.
import matplotlib.pyplot as plt
import numpy as np

from tasklab.baselines.results import ComparisonResult
from tasklab.core import io
from tasklab.core.config import DATA_SECTION_KINDS
from tasklab.core.figures import figure_png, plot_label
from tasklab.core.results import Record
from tasklab.core.yaml_text import parse_yaml
from tasklab.edge.bundle_spec import PREPROCESSING_FILE
from tasklab.explain.results import ExplainResult
from tasklab.export.results import ExportResult, VariantResult
from tasklab.training.results import RunMetrics

R = TypeVar("R", bound=Record)

BUNDLE_SPEC_FILE = PREPROCESSING_FILE  # The edge bundle's spec.


# The keys of the manifest (the run's log, a dict that grows as the run goes) the report
# reads without a default; the stages' results are typed records that declare their own.
MANIFEST_KEYS = ("status", "versions")
# How the per-class table heads the figures a problem reports per class (others as they are).
PER_CLASS_COLUMNS = {"f1": "F1", "iou": "IoU", "dice": "Dice"}
# What a value of the wrong type or shape raises while rendering (jinja2's StrictUndefined too).
_RENDER_FAILURES = (
    KeyError,
    TypeError,
    ValueError,
    IndexError,
    AttributeError,
    jinja2.TemplateError,
)


class ReportInputError(io.ArtifactReadError):
    """A run directory's JSON cannot be rendered: a value of the wrong type or shape."""


def write_report(run_dir: str | Path) -> Path:
    """Renders `report.html` (and `plots/*.png`) from the JSON results in `run_dir`.

    Everything is rendered before anything is written, so a run directory
    whose files cannot be rendered keeps its report and plots as they were.

    Args:
        run_dir: a run directory holding at least `metrics.json` and `manifest.json`.

    Returns:
        The report's path.

    Raises:
        FileNotFoundError: when `run_dir` is not a (finished) run directory.
        ArtifactReadError: when one of its JSON files is damaged or lacks a key
            (naming the file), or holds a value the report cannot show.
    """
    run_dir = Path(run_dir)
    if not RunDir(run_dir).metrics.is_file():
        raise FileNotFoundError(
            f"'{run_dir}' holds no metrics.json: it is not a finished run directory. "
            "Pass the directory that `tasklab run` printed."
        )
    manifest = io.read_record(RunDir(run_dir).manifest, MANIFEST_KEYS)
    stages = StageResults(
        metrics=RunMetrics.read(RunDir(run_dir).metrics),
        comparison=_read_if_present(ComparisonResult, RunDir(run_dir).baselines),
        explain=_read_if_present(ExplainResult, RunDir(run_dir).explain),
        export=_read_if_present(ExportResult, RunDir(run_dir).export),
    )
    try:
        html, plots = _render(run_dir, manifest, stages)
    except io.ArtifactReadError:
        raise
    except _RENDER_FAILURES as error:
        reason = " ".join(str(error).split())[:300]
        raise ReportInputError(
            f"The report of '{run_dir}' cannot be built: a value in its JSON files is not what "
            f"tasklab writes ({type(error).__name__}: {reason}). They were edited or damaged; "
            "restore them, or run the config again with `tasklab run`."
        ) from None
    for name, png in plots.items():
        io.write_bytes(RunDir(run_dir).plots / f"{name}.png", png)
    return io.write_text(RunDir(run_dir).report, html)


@dataclasses.dataclass(frozen=True)
class StageResults:
    """What the run's stages measured: training's, and each later stage's (None when not run)."""

    metrics: RunMetrics
    comparison: ComparisonResult | None
    explain: ExplainResult | None
    export: ExportResult | None


def _read_if_present(record: type[R], path: Path) -> R | None:
    return record.read(path) if path.is_file() else None


def _render(run_dir: Path, manifest: dict, stages: StageResults) -> tuple[str, dict[str, bytes]]:
    """The report's HTML and its plots (PNG bytes by name), written by neither."""
    metrics = stages.metrics
    comparison, explain, export = stages.comparison, stages.explain, stages.export
    history_file = RunDir(run_dir).history
    history = io.read_json(history_file) if history_file.is_file() else []
    config_file = RunDir(run_dir).config
    plots = {
        "learning_curves": learning_curves_png(history),
        "confusion_matrix": confusion_matrix_png(metrics.confusion_matrix, metrics.class_names)
        if metrics.confusion_matrix
        else None,
        "comparison": comparison_png(comparison) if comparison and comparison.test else None,
        "filter_importance": filter_importance_png(comparison) if comparison else None,
    }
    plots = {name: png for name, png in plots.items() if png is not None}
    config_yaml, hidden_sections = used_config(
        config_file.read_text(encoding="utf-8") if config_file.is_file() else "",
        metrics.data_kind,
    )
    html = (
        _environment()
        .get_template("report.html.j2")
        .render(
            run_name=run_dir.name,
            metrics=metrics,
            column_names=PER_CLASS_COLUMNS,
            manifest=manifest,
            comparison=comparison,
            export=export,
            edge_default=edge_default(run_dir, export),
            explain=explain,
            explain_outcomes=explain.outcomes() if explain else {},
            explain_plots=_explain_plots(run_dir, explain),
            history=history,
            config_yaml=config_yaml,
            hidden_sections=hidden_sections,
            plots={name: base64.b64encode(png).decode("ascii") for name, png in plots.items()},
        )
    )
    return html, plots


def edge_default(run_dir: Path, export: ExportResult | None) -> VariantResult | None:
    """The export variant the edge bundle runs when none is named: its `default_variant`.

    The export stage records it in the bundle's spec (the smallest variant
    that passed its gate, or the smallest of all when none passed), which is
    what a device reads, so the report reads it there too.

    Args:
        run_dir: the run directory.
        export: `export.json`, or None when the run exported nothing.

    Returns:
        That variant's entry in `export.json`, or None without an export or
        a bundle spec.
    """
    if not export:
        return None
    spec_file = run_dir / export.bundle / BUNDLE_SPEC_FILE
    if not spec_file.is_file():
        return None
    return export.variant(io.read_json(spec_file).get("default_variant"))


def used_config(config_yaml: str, data_kind: str | None) -> tuple[str, list[str]]:
    """The resolved config without the `data` sections for other kinds of data.

    Every section is written out in `config.yaml` (all defaults resolved), so
    an image run's would show text tokenizer and speech synthesis settings
    that it never read.

    Args:
        config_yaml: the run's `config.yaml`.
        data_kind: the run's kind of data (`metrics.json` `data_kind`); None
            (a run from before it was recorded) keeps every section.

    Returns:
        The YAML to show (the file as it is when nothing is left out) and the
        dotted names of the sections left out.
    """
    if data_kind is None or not config_yaml:
        return config_yaml, []
    config = parse_yaml(config_yaml, "The run's config.yaml")
    data = config.get("data") if isinstance(config, dict) else None
    if not isinstance(data, dict):
        return config_yaml, []
    hidden = [name for name in data if data_kind not in DATA_SECTION_KINDS.get(name, (data_kind,))]
    if not hidden:
        return config_yaml, []
    config["data"] = {key: value for key, value in data.items() if key not in hidden}
    return yaml.safe_dump(config, sort_keys=False), [f"data.{name}" for name in hidden]


def _explain_plots(run_dir: Path, explain: ExplainResult | None) -> dict[str, str]:
    """The explain stage's PNGs (written by that stage) as base64, in its order."""
    if not explain:
        return {}
    pngs = {}
    for name, relative in explain.plots.items():
        path = run_dir / relative
        # explain.json is a file like any other: embed only plots inside the run directory.
        if io.is_inside(path, run_dir) and path.is_file():
            pngs[name] = base64.b64encode(path.read_bytes()).decode("ascii")
    return pngs


def _environment() -> jinja2.Environment:
    # autoescape=True: every string from data or config (class names, paths) is escaped.
    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("tasklab.pipelines", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    environment.filters["fmt"] = _format_number
    environment.filters["sci"] = _format_scientific
    environment.filters["shaded"] = shaded_units
    environment.filters["size"] = format_size
    return environment


def format_size(size_bytes: int | None) -> str:
    """A size for people: `277 B`, `19.4 KB`, `17.6 MB`, `1.2 GB` (powers of 1,000).

    Args:
        size_bytes: a size in bytes, or None.

    Returns:
        The size with three significant digits at most, or `n/a`.
    """
    if size_bytes is None:
        return "n/a"
    value, unit = float(size_bytes), "B"
    for unit in ("B", "KB", "MB", "GB"):
        if value < 999.5 or unit == "GB":  # 999.5 KB would round to "1e+03 KB".
            break
        value /= 1000
    if unit == "B":
        return f"{int(size_bytes)} B"
    return f"{value:.3g} {unit}" if value < 999.5 else f"{value:,.0f} {unit}"


def shaded_units(units: list[list]) -> list[tuple[str, str]]:
    """`[unit, weight]` pairs as `(unit, CSS background)`: red for positive, blue for negative.

    The opacity is the weight's share of the text's largest absolute weight,
    so each text is shaded on its own scale.
    """
    scale = max((abs(weight) for _, weight in units), default=0.0) or 1.0
    shaded = []
    for unit, weight in units:
        alpha = min(1.0, abs(weight) / scale) * 0.8
        color = "220, 50, 47" if weight > 0 else "38, 110, 210"
        shaded.append((unit, f"rgba({color}, {alpha:.2f})"))
    return shaded


def _format_number(value, digits: int = 4) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _format_scientific(value) -> str:
    """Tiny errors (1e-7) as `2.08e-07`, where fixed decimals would print zeros."""
    return "n/a" if value is None else f"{value:.2e}"


def learning_curves_png(history: list[dict[str, float]]) -> bytes | None:
    """Plots the loss and the first metric per epoch, train against validation.

    Returns:
        PNG bytes, or None when there is no history.
    """
    if not history:
        return None
    epochs = [entry["epoch"] for entry in history]
    metric_keys = [k for k in history[0] if k not in ("epoch", "seconds", "loss", "learning_rate")]
    panels = ["loss", *[k for k in metric_keys if not k.startswith("val_")][:1]]
    figure, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 3.5), squeeze=False)
    for axis, key in zip(axes[0], panels, strict=True):
        axis.plot(epochs, [entry[key] for entry in history], marker=".", label="train")
        if f"val_{key}" in history[0]:
            axis.plot(
                epochs, [entry[f"val_{key}"] for entry in history], marker=".", label="validation"
            )
        axis.set_xlabel("epoch")
        axis.set_ylabel(key)
        axis.grid(alpha=0.3)
        axis.legend()
    return figure_png(figure)


# Past this many classes the confusion matrix shows the classes with the most errors: a full
# 1,000-class plot would be 450 inches wide with a million labels (17.7 GB to draw).
MAX_PLOTTED_CLASSES = 30


def confusion_matrix_png(matrix: list[list[int]], class_names: list[str]) -> bytes:
    """Plots the confusion matrix (of the most confused classes when there are many).

    Returns:
        PNG bytes.
    """
    counts = np.asarray(matrix)
    shown = most_confused(counts, MAX_PLOTTED_CLASSES)
    counts = counts[np.ix_(shown, shown)]
    names = [plot_label(class_names[i]) for i in shown]
    size = max(4.0, 0.45 * len(names) + 2)
    figure, axis = plt.subplots(figsize=(size, size))
    axis.imshow(counts, cmap="Blues")
    ticks = np.arange(len(names))
    axis.set_xticks(ticks, names, rotation=45, ha="right")
    axis.set_yticks(ticks, names)
    axis.set_xlabel("predicted")
    axis.set_ylabel("true")
    if len(shown) < len(class_names):
        axis.set_title(
            f"the {len(shown)} of {len(class_names):,} classes with the most errors", fontsize=9
        )
    threshold = counts.max() / 2 if counts.size else 0
    for (row, col), count in np.ndenumerate(counts):
        axis.text(
            col,
            row,
            str(count),
            ha="center",
            va="center",
            color="white" if count > threshold else "black",
            fontsize=8,
        )
    return figure_png(figure)


def most_confused(counts: np.ndarray, limit: int) -> np.ndarray:
    """The indices of every class, or of the `limit` classes in the most errors, in order.

    A class's errors are its misclassified examples plus the examples of other
    classes predicted as it (the off-diagonal counts of its row and column).
    """
    if len(counts) <= limit:
        return np.arange(len(counts))
    errors = counts.sum(axis=0) + counts.sum(axis=1) - 2 * np.diag(counts)
    return np.sort(np.argsort(-errors, kind="stable")[:limit])


def comparison_png(comparison: ComparisonResult) -> bytes:
    """Plots each model's held-out primary metric with its 95% interval, best at the top.

    Returns:
        PNG bytes.
    """
    metric = comparison.primary_metric
    models = comparison.models
    values = [m.metrics[metric] for m in models]
    lows = [v - m.intervals[metric][0] for v, m in zip(values, models, strict=True)]
    highs = [m.intervals[metric][1] - v for v, m in zip(values, models, strict=True)]
    figure, axis = plt.subplots(figsize=(6, 0.5 * len(models) + 1.2))
    rows = np.arange(len(models))[::-1]
    colors = ["tab:orange" if m.is_keras else "tab:blue" for m in models]
    axis.errorbar(values, rows, xerr=[lows, highs], fmt="none", ecolor="gray", capsize=4)
    axis.scatter(values, rows, color=colors, zorder=3)
    axis.set_yticks(rows, [m.label for m in models])
    axis.set_xlabel(f"held-out {metric} (95% bootstrap interval)")
    axis.grid(axis="x", alpha=0.3)
    return figure_png(figure)


FILTERS_SHOWN = 15  # Filter responses in the pixel baseline's importance bars.


def filter_importance_png(comparison: ComparisonResult) -> bytes | None:
    """The top filter responses of the first baseline that reports their importance.

    Returns:
        PNG bytes, or None when no baseline reports filter importances.
    """
    entry = next((m for m in comparison.models if m.importances), None)
    if entry is None:
        return None
    ranked = sorted(entry.importances.items(), key=lambda item: -item[1])[:FILTERS_SHOWN]
    names, shares = [name for name, _ in ranked][::-1], [share for _, share in ranked][::-1]
    figure, axis = plt.subplots(figsize=(6, 0.28 * len(names) + 1.0))
    axis.barh(np.arange(len(names)), shares, color="tab:blue")
    axis.set_yticks(np.arange(len(names)), [plot_label(name, 40) for name in names], fontsize=8)
    axis.set_xlabel(f"share of {entry.label}'s importance")
    axis.grid(axis="x", alpha=0.3)
    return figure_png(figure)
