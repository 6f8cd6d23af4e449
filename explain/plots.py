"""Figures of the explain stage: overlays, importance bars, beeswarms and deletion curves."""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import shap

from tasklab.core.figures import figure_png, plot_label
from tasklab.explain.base import Attributions
from tasklab.explain.checks import importance_map
from tasklab.explain.results import MethodResult

_TOP_COLUMNS = 15  # Columns shown in the importance bars and beeswarms.


def overlays_png(
    examples,
    shown: np.ndarray,
    attributions: Mapping[str, Attributions],
    class_names: Sequence[str],
    spectrograms: np.ndarray | None = None,
) -> bytes | None:
    """One row per shown example: the image (or spectrogram), then each method's map over it.

    Maps show each pixel's attribution magnitude (channels summed), scaled
    to the map's 99th percentile so one extreme pixel does not hide the rest
    (signed methods too: a pixel that pushed against the class matters as well).

    Args:
        examples: the explained `Examples` (images 0..255).
        shown: indices into the examples to draw.
        attributions: method -> its attributions of every example.
        class_names: names of the classes.
        spectrograms: `(examples, frames, mels, 1)` log-mel spectrograms the
            attributions are over, drawn instead of the inputs (time along x,
            mel bands up the y axis).

    Returns:
        PNG bytes, or None when no example is shown.
    """
    if len(shown) == 0:
        return None
    draw = _draw_spectrogram if spectrograms is not None else _draw_image
    methods = list(attributions)
    figure, axes = plt.subplots(
        len(shown),
        len(methods) + 1,
        figsize=(1.9 * (len(methods) + 1), 1.9 * len(shown) + 0.4),
        squeeze=False,
    )
    for row, index in enumerate(shown):
        picture = spectrograms[index] if spectrograms is not None else examples.inputs[index]
        true, predicted = int(examples.labels[index]), int(examples.predicted[index])
        draw(axes[row, 0], picture)
        axes[row, 0].set_title(
            f"{plot_label(class_names[true], 20)} -> {plot_label(class_names[predicted], 20)} "
            f"({examples.confidence[index]:.2f})",
            fontsize=8,
        )
        for column, name in enumerate(methods, start=1):
            values = attributions[name].values[index : index + 1]
            magnitude = importance_map(values, signed=False, channels_last=True)
            heat = magnitude.reshape(values.shape[1:3])
            scale = np.percentile(heat, 99) or heat.max() or 1.0
            draw(axes[row, column], picture, np.clip(heat / scale, 0, 1))
            if row == 0:
                axes[row, column].set_title(name, fontsize=8)
    for axis in axes.flat:
        axis.set_xticks([])
        axis.set_yticks([])
    return figure_png(figure)


def region_overlays_png(
    examples,
    shown: np.ndarray,
    attributions: Mapping[str, Attributions],
    class_names: Sequence[str],
    ious: np.ndarray,
) -> bytes | None:
    """One row per shown image: the image, its true mask, the predicted mask, each method's map.

    The maps are drawn as in `overlays_png`, with the explained region (the
    pixels predicted as the target class) outlined in white.

    Args:
        examples: the explained `Examples` (images 0..255, masks as labels and predictions).
        shown: indices into the examples to draw.
        attributions: method -> its attributions of every example.
        class_names: names of the classes (colours as the edge runner's overlays).
        ious: each example's IoU, shown over its prediction.

    Returns:
        PNG bytes, or None when no image is shown.
    """
    from tasklab.edge.outputs import class_palette

    if len(shown) == 0:
        return None
    palette = class_palette(len(class_names)) / 255.0
    methods = list(attributions)
    columns = len(methods) + 3
    figure, axes = plt.subplots(
        len(shown), columns, figsize=(1.9 * columns, 1.9 * len(shown) + 0.4), squeeze=False
    )
    for row, index in enumerate(shown):
        image, target = examples.inputs[index], int(examples.targets[index])
        truth, predicted = np.asarray(examples.labels[index]), np.asarray(examples.predicted[index])
        _draw_image(axes[row, 0], image)
        axes[row, 1].imshow(palette[np.where(truth < len(class_names), truth, 0)])
        axes[row, 2].imshow(palette[predicted])
        axes[row, 2].set_title(f"IoU {ious[index]:.2f}", fontsize=8)
        region = predicted == target
        for column, name in enumerate(methods, start=3):
            values = attributions[name].values[index : index + 1]
            heat = importance_map(values, signed=False, channels_last=True).reshape(region.shape)
            scale = np.percentile(heat, 99) or heat.max() or 1.0
            _draw_image(axes[row, column], image, np.clip(heat / scale, 0, 1))
            if region.any() and not region.all():
                axes[row, column].contour(region, levels=[0.5], colors="white", linewidths=0.7)
            # Each row's region may be another class: named on every row, the method on the first.
            region_name = f"{plot_label(class_names[target], 12)} region"
            axes[row, column].set_title(
                f"{name}\n{region_name}" if row == 0 else region_name, fontsize=8
            )
        if row == 0:
            axes[row, 0].set_title("image", fontsize=8)
            axes[row, 1].set_title("true mask", fontsize=8)
            axes[row, 2].set_title(f"predicted, IoU {ious[index]:.2f}", fontsize=8)
    for axis in axes.flat:
        axis.set_xticks([])
        axis.set_yticks([])
    return figure_png(figure)


def _draw_image(axis, image: np.ndarray, heat: np.ndarray | None = None) -> None:
    """Draws an image (0..255 pixels), and a 0..1 heat map over it when given."""
    image = _displayable(image)
    axis.imshow(image, cmap="gray" if image.ndim == 2 else None)
    if heat is not None:
        axis.imshow(heat, cmap="inferno", alpha=0.6, vmin=0, vmax=1)


def _draw_spectrogram(axis, spectrogram: np.ndarray, heat: np.ndarray | None = None) -> None:
    """Draws a `(frames, mels, 1)` log-mel spectrogram, low bands at the bottom, and a heat map."""
    values = spectrogram[..., 0].T
    axis.imshow(values, cmap="gray", origin="lower", aspect="auto")
    if heat is not None:
        axis.imshow(
            heat.T, cmap="inferno", alpha=0.6, vmin=0, vmax=1, origin="lower", aspect="auto"
        )


def _displayable(image: np.ndarray) -> np.ndarray:
    """Model-ready pixels (0..255 floats) as an image matplotlib draws (2-D if grayscale).

    An alpha channel (`data.image.alpha: channel`) is drawn as matplotlib draws
    RGBA; gray + alpha shows the gray channel (matplotlib has no gray + alpha).
    """
    image = np.clip(image / 255.0, 0.0, 1.0)
    return image[..., 0] if image.shape[-1] <= 2 else image


def importance_bar_png(importance: Mapping[str, Any]) -> bytes | None:
    """Each model's share of the total mean |SHAP| per column, top columns, side by side.

    Shares (importance / its sum) put the models on one axis although the
    Keras model is explained in probability and the trees in log-odds.

    Returns:
        PNG bytes, or None when no method ran.
    """
    by_method = importance["by_method"]
    if not by_method:
        return None
    columns = importance["columns"]
    shares = {
        name: np.asarray(values) / (np.sum(values) or 1.0) for name, values in by_method.items()
    }
    order = np.argsort(-np.mean(list(shares.values()), axis=0))[:_TOP_COLUMNS]
    height = 0.8 / len(shares)
    figure, axis = plt.subplots(figsize=(7, 0.35 * len(order) + 1.2))
    positions = np.arange(len(order))[::-1]
    for offset, (name, share) in enumerate(shares.items()):
        axis.barh(positions + offset * height - 0.4 + height / 2, share[order], height, label=name)
    axis.set_yticks(positions, [plot_label(columns[i]) for i in order], fontsize=8)
    axis.set_xlabel("share of mean |SHAP|")
    axis.legend()
    axis.grid(axis="x", alpha=0.3)
    return figure_png(figure)


def beeswarm_png(
    values: np.ndarray, frame: pd.DataFrame, columns: Sequence[str], method: str
) -> bytes:
    """SHAP's beeswarm of one method over the input columns, dots colored by the column's value.

    Args:
        values: `(examples, columns)` attributions.
        frame: the explained rows' typed columns (categoricals drawn by category code).
        columns: the column names, in order.
        method: the method's name, for the title.

    Returns:
        PNG bytes.
    """
    data = np.column_stack([_numeric(frame[column]) for column in columns])
    names = [plot_label(column) for column in columns]
    explanation = shap.Explanation(values=values, data=data, feature_names=names)
    with warnings.catch_warnings():
        # A column none of whose explained values is known (every category unseen in
        # training) has no colour: shap draws it grey, after numpy warns of the empty slice.
        warnings.filterwarnings("ignore", "All-NaN slice encountered", RuntimeWarning)
        shap.plots.beeswarm(explanation, max_display=_TOP_COLUMNS, show=False, plot_size=(7, 5))
    figure = plt.gcf()
    figure.suptitle(method, fontsize=10)
    return figure_png(figure)


def _numeric(series: pd.Series) -> np.ndarray:
    if isinstance(series.dtype, pd.CategoricalDtype):
        codes = series.cat.codes.to_numpy(dtype=np.float64)
        return np.where(codes < 0, np.nan, codes)
    return series.to_numpy(dtype=np.float64)


def deletion_curves_png(methods: Sequence[MethodResult]) -> bytes | None:
    """Per method: the explained output as features are deleted, attribution order vs random.

    Returns:
        PNG bytes, or None when no method has a deletion check.
    """
    checked = [method for method in methods if "deletion" in method.checks]
    if not checked:
        return None
    figure, axes = plt.subplots(
        1, len(checked), figsize=(3.2 * len(checked), 2.8), squeeze=False, sharey=True
    )
    for axis, method in zip(axes[0], checked, strict=True):
        deletion = method.checks["deletion"]
        fractions = np.linspace(0, 1, len(deletion["curve"]))
        axis.plot(fractions, deletion["curve"], label=f"attributed (AUC {deletion['auc']:.3f})")
        axis.plot(
            fractions,
            deletion["random_curve"],
            linestyle="--",
            label=f"random (AUC {deletion['random_auc']:.3f})",
        )
        axis.set_title(f"{method.name} ({method.model})", fontsize=9)
        axis.set_xlabel("fraction deleted")
        axis.grid(alpha=0.3)
        axis.legend(fontsize=7)
    axes[0, 0].set_ylabel("explained output")
    return figure_png(figure)
