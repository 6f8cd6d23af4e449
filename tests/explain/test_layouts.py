"""Each task's explanation space has a layout, and the stage asks it instead of switching."""

from __future__ import annotations

import re

from tasklab.explain.layouts import LAYOUTS, ColumnLayout, SpectrogramLayout, layout_for
from tasklab.tasks import TASKS, get_task
from tests.conftest import REPO


def test_every_task_is_explained_in_a_registered_layout():
    for name in TASKS.names():
        assert get_task(name).explain_input in LAYOUTS, name
    assert isinstance(layout_for(get_task("keyword_spotting")), SpectrogramLayout)
    assert isinstance(layout_for(get_task("tabular_regression")), ColumnLayout)
    assert layout_for(get_task("image_classification")).channels_last


def test_no_module_switches_on_the_explanation_space():
    switch = re.compile(r"explain_input\s*(==|!=|in\s*[(\[{])")
    offenders = [
        str(path.relative_to(REPO))
        for folder in ("explain", "export", "pipelines", "baselines", "tasks", "training")
        for path in sorted((REPO / folder).rglob("*.py"))
        if switch.search(path.read_text(encoding="utf-8"))
    ]
    assert not offenders, offenders


def test_segmented_images_are_drawn_worst_first_then_best():
    import numpy as np

    from tasklab.core.config import parse_model_config
    from tasklab.data.base import DataSpec
    from tasklab.explain.base import Attributions, Examples
    from tasklab.explain.layouts import RegionLayout, example_ious

    spec = DataSpec(kind="segmentation", class_names=("bg", "a"), example_shape=(8, 8, 3))
    task = get_task("semantic_segmentation")(parse_model_config("semantic_segmentation", {}), spec)
    assert isinstance(layout_for(task), RegionLayout) and layout_for(task).channels_last
    truth = np.zeros((4, 8, 8), dtype=np.int64)
    truth[:, 2:6, 2:6] = 1
    predicted = truth.copy()
    predicted[0] = 0  # Image 0 misses its object: IoU 0.5 (background right, object wrong).
    predicted[1, 2:4] = 0  # Image 1 finds half of it.
    examples = Examples(
        rows=np.arange(4),
        inputs=np.zeros((4, 8, 8, 3), np.float32),
        labels=truth,
        predicted=predicted,
        targets=np.ones(4, dtype=int),
        confidence=np.full(4, 0.9),
    )
    ious = example_ious(examples, task)
    assert ious[2] == ious[3] == 1.0 and ious[0] < ious[1] < 1.0
    values = Attributions(np.ones((4, 8, 8, 3)), np.zeros(4), np.ones(4), np.ones(4), 0.01)
    layout = layout_for(task)
    assert layout.summary({"grad_cam": values}, examples, task, None) == {
        "example_ious": tuple(round(float(iou), 4) for iou in ious)
    }
    figures = layout.figures(None, {"grad_cam": values}, examples, task, None, None)
    assert set(figures) == {"overlays_worst", "overlays_best"}
    assert all(png.startswith(b"\x89PNG") for png in figures.values())
