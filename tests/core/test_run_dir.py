"""`RunDir`: the one place a run's artifact names are defined."""

from __future__ import annotations

import re
from pathlib import Path

from tasklab.core.run_dir import RunDir
from tests.conftest import REPO

NAMES = {name: value for name, value in vars(RunDir).items() if name.isupper()}


def test_every_artifact_has_a_distinct_name_and_a_path_inside_the_run(tmp_path):
    assert len(set(NAMES.values())) == len(NAMES)
    run_dir = RunDir(str(tmp_path))
    for name, value in NAMES.items():
        path = getattr(run_dir, name.lower())
        assert isinstance(path, Path) and path == tmp_path / value
    assert run_dir.xgboost.parent == run_dir.baseline_models


def test_no_other_module_spells_an_artifact_name():
    spelled = re.compile(
        "|".join(rf"[\"']{re.escape(value)}[\"']" for value in NAMES.values() if "." in value)
    )
    offenders = [
        str(path.relative_to(REPO))
        for folder in ("core", "data", "tasks", "training", "baselines", "explain", "export",
                       "pipelines", "bench")
        for path in sorted((REPO / folder).rglob("*.py"))
        if path.name != "run_dir.py" and spelled.search(path.read_text(encoding="utf-8"))
    ]  # fmt: skip
    assert not offenders, offenders
