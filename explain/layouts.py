"""How each explanation space is summarized and drawn: one layout per `Task.explain_input`.

The explain stage asks the task's layout instead of switching on the space:

    pixels       overlays of each method's map on the images (correct, then misclassified)
    pixel_regions  the worst and the best segmented images: true and predicted masks, and each
                 method's map of the explained region
    spectrogram  the same overlays, on the log-mel spectrograms the model was explained over
    features     global importance per input column of both models, with their rank
                 agreement; importance bars and a beeswarm per method
    tokens       a few texts with each method's weight per word or character

A task explained over a new space registers its layout in `LAYOUTS`.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import pandas as pd

from tasklab.core.registry import Registry
from tasklab.data import Dataset
from tasklab.data.text import TEXT_COLUMN
from tasklab.edge.text_tokens import TextTokenizer
from tasklab.explain import plots
from tasklab.explain.base import EXPLAINERS, Attributions, Examples
from tasklab.explain.importance import global_importance, importance_by_column, rank_agreement
from tasklab.explain.results import ExplainResult
from tasklab.explain.tokens import highlight
from tasklab.tasks.base import Task

MAX_SHOWN = 8  # Examples per overlay figure (correct, then misclassified).
MAX_HIGHLIGHTED_UNITS = 400  # Words or characters of a text shown highlighted in the report.


class Layout:
    """How one explanation space is summarized in `explain.json` and drawn (nothing by default).

    Attributes:
        channels_last: the attributions' last axis is a pixel's channels, summed
            into one importance per pixel.
    """

    channels_last: ClassVar[bool] = False

    def summary(
        self,
        attributions: dict[str, Attributions],
        examples: Examples,
        task: Task,
        dataset: Dataset,
    ) -> dict[str, Any]:
        """Entries added to `explain.json` beside the methods' checks."""
        return {}

    def figures(
        self,
        result: ExplainResult,
        attributions: dict[str, Attributions],
        examples: Examples,
        task: Task,
        dataset: Dataset,
        subject_inputs: np.ndarray | None,
    ) -> dict[str, bytes | None]:
        """Figure name -> its PNG (None: nothing to draw).

        Args:
            result: what `explain.json` holds so far (its summary included, no plots).
            attributions: method -> its attributions (at least one method).
            examples: the explained examples.
            task: the run's task.
            dataset: the run's dataset.
            subject_inputs: the examples as the Keras model was explained over
                them (`Task.explanation_subject`), when it was.
        """
        return {}


LAYOUTS: Registry[Layout] = Registry("explanation space")


def layout_for(task: Task | type[Task]) -> Layout:
    """The layout of the space the task is explained over."""
    return LAYOUTS.get(task.explain_input)


class ImageLayout(Layout):
    """Maps over images, one overlay figure of correct and one of misclassified examples."""

    channels_last = True

    def figures(self, result, attributions, examples, task, dataset, subject_inputs):
        return overlay_figures(examples, attributions, task, drawn_over=None)


class SpectrogramLayout(ImageLayout):
    """Maps over the spectrograms a speech model was explained over, drawn instead of the clips."""

    def figures(self, result, attributions, examples, task, dataset, subject_inputs):
        return overlay_figures(examples, attributions, task, drawn_over=subject_inputs)


class ColumnLayout(Layout):
    """Table columns: global importance of both models, importance bars and beeswarms."""

    def summary(self, attributions, examples, task, dataset):
        return {"importance": column_importance(attributions, task)}

    def figures(self, result, attributions, examples, task, dataset, subject_inputs):
        frame = task.baseline_features(dataset.test).iloc[examples.rows]
        return _table_plots(result.importance, attributions, frame, task)


class TokenLayout(Layout):
    """Texts: a few examples with each method's weight per word or character (for the report)."""

    def summary(self, attributions, examples, task, dataset):
        return {"highlights": text_highlights(attributions, examples, task, dataset)}


class RegionLayout(Layout):
    """Segmented images: the worst and the best by IoU, each with its masks and every map."""

    channels_last = True

    def summary(self, attributions, examples, task, dataset):
        ious = example_ious(examples, task)
        return {"example_ious": tuple(round(float(iou), 4) for iou in ious)}

    def figures(self, result, attributions, examples, task, dataset, subject_inputs):
        ious = example_ious(examples, task)
        order = np.argsort(ious, kind="stable")
        half = len(order) - len(order) // 2
        return {
            f"overlays_{label}": plots.region_overlays_png(
                examples, chosen[:MAX_SHOWN], attributions, task.spec.class_names, ious
            )
            for label, chosen in (("worst", order[:half]), ("best", order[half:][::-1]))
        }


def example_ious(examples: Examples, task: Task) -> np.ndarray:
    """Each explained image's IoU (its classes' mean), as the problem's paired test counts it."""
    classes = len(task.spec.class_names)
    one_hot = np.eye(classes, dtype=np.float32)[np.asarray(examples.predicted)]
    return np.nan_to_num(task.problem.image_ious(np.asarray(examples.labels), one_hot), nan=1.0)


LAYOUTS.register("pixels")(ImageLayout())
LAYOUTS.register("pixel_regions")(RegionLayout())
LAYOUTS.register("spectrogram")(SpectrogramLayout())
LAYOUTS.register("features")(ColumnLayout())
LAYOUTS.register("tokens")(TokenLayout())


def overlay_figures(
    examples: Examples,
    attributions: dict[str, Attributions],
    task: Task,
    drawn_over: np.ndarray | None,
) -> dict[str, bytes | None]:
    """The overlays of correct and of misclassified examples (up to `MAX_SHOWN` each).

    Args:
        drawn_over: spectrograms to draw the maps over instead of the inputs.
    """
    return {
        f"overlays_{label}": plots.overlays_png(
            examples,
            np.flatnonzero(chosen)[:MAX_SHOWN],
            attributions,
            task.spec.class_names,
            spectrograms=drawn_over,
        )
        for label, chosen in (("correct", examples.correct), ("misclassified", ~examples.correct))
    }


def text_highlights(
    attributions: dict[str, Attributions], examples: Examples, task: Task, dataset: Dataset
) -> list[dict[str, Any]]:
    """Up to 8 correct and 8 misclassified texts with each method's weight per word or character.

    Returns:
        One entry per text: its test row, true and predicted class, the
        predicted class's probability, and per method `[unit, weight]` pairs
        (`joiner` says how the units join back into text).
    """
    if not attributions:
        return []
    tokenizer = TextTokenizer(task.edge_input())
    texts = task.baseline_features(dataset.test)[TEXT_COLUMN].to_numpy()
    names = task.spec.class_names
    shown = [
        *np.flatnonzero(examples.correct)[:MAX_SHOWN],
        *np.flatnonzero(~examples.correct)[:MAX_SHOWN],
    ]
    return [
        {
            "test_row": int(examples.rows[index]),
            "label": names[int(examples.labels[index])],
            "predicted": names[int(examples.predicted[index])],
            "confidence": float(examples.confidence[index]),
            "correct": bool(examples.correct[index]),
            "joiner": "" if tokenizer.mode == "char" else " ",
            "methods": {
                name: highlight(texts[examples.rows[index]], values.values[index], tokenizer)[
                    :MAX_HIGHLIGHTED_UNITS
                ]
                for name, values in attributions.items()
            },
        }
        for index in shown
    ]


def column_importance(attributions: dict[str, Attributions], task: Task) -> dict[str, Any]:
    """Global importance (mean |SHAP|) per input column of each model, and their rank agreement.

    The Keras model's encoded features (one-hot blocks, missing flags) are
    summed back onto their columns so both models are ranked over the same columns.

    Returns:
        `columns`, `by_method` {method: importances} and, when both SHAP
        methods ran, `agreement` (Spearman and Kendall with p-values).
    """
    columns = [column.name for column in task.spec.schema.columns]
    by_method = {
        name: global_importance(on_columns(name, values, task)).tolist()
        for name, values in attributions.items()
    }
    result: dict[str, Any] = {"columns": columns, "by_method": by_method}
    if "keras_shap" in by_method and "tree_shap" in by_method:
        agreement = rank_agreement(
            np.asarray(by_method["keras_shap"]), np.asarray(by_method["tree_shap"])
        )
        result["agreement"] = {
            "compared": ["keras_shap", "tree_shap"],
            **agreement,
            "reading": agreement_reading(agreement),
        }
    return result


def on_columns(name: str, attributions: Attributions, task: Task) -> np.ndarray:
    """A table method's attributions per input column, `(examples, columns)`.

    XGBoost is explained on the columns already; a Keras model on the
    encoded features, whose attributions are summed back onto their columns.
    """
    if EXPLAINERS.get(name).model == "xgboost":
        return attributions.values
    schema = task.spec.schema
    columns = [column.name for column in schema.columns]
    return importance_by_column(attributions.values, schema.feature_names, columns)


def agreement_reading(agreement: dict[str, float], alpha: float = 0.05) -> str:
    """A sentence saying whether two models rank the columns alike (Spearman, at `alpha`)."""
    rho, p_value = agreement["spearman"], agreement["spearman_p_value"]
    if not np.isfinite(rho) or p_value >= alpha:
        return "no significant agreement: the two models rank the features differently"
    if rho < 0:
        return "significant disagreement: what one model relies on most, the other relies on least"
    strength = "strong" if rho >= 0.7 else "moderate" if rho >= 0.4 else "weak"
    return f"{strength}, significant agreement: the two models rely on similar features"


def _table_plots(
    importance: dict[str, Any],
    attributions: dict[str, Attributions],
    frame: pd.DataFrame,
    task: Task,
) -> dict[str, bytes | None]:
    """The importance bars, and a beeswarm per method over the input columns."""
    columns = importance["columns"]
    figures = {"importance_bar": plots.importance_bar_png(importance)}
    for name, values in attributions.items():
        per_column = on_columns(name, values, task)
        figures[f"beeswarm_{name}"] = plots.beeswarm_png(per_column, frame, columns, name)
    return figures
