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
