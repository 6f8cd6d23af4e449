"""Finished runs the hostile cases damage copies of (each case gets its own copy)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tasklab.core.config import load_config
from tasklab.pipelines.run import run
from tests.hostile.harness import digest


def _finished_run(tmp_path_factory, name: str, *overrides: str) -> Path:
    config = load_config(
        name,
        [
            "train.epochs=2",
            "baselines=[]",
            "explain.methods=[]",
            "export.variants=[float32]",
            "export.latency_runs=2",
            *overrides,
        ],
    )
    return run(config, runs_dir=tmp_path_factory.mktemp("runs"), verbose=False).run_dir


@pytest.fixture(scope="session")
def digits_run_original(tmp_path_factory) -> Path:
    """A finished digits run (CNN on 8x8 images) with a float32 edge bundle."""
    return _finished_run(tmp_path_factory, "digits", "compare.cv_max_rows=0")


@pytest.fixture
def digits_run(digits_run_original, tmp_path) -> Path:
    """A private copy of the finished digits run, to damage."""
    return Path(shutil.copytree(digits_run_original, tmp_path / digits_run_original.name))


@pytest.fixture
def bundle(digits_run) -> Path:
    """A private copy of the digits run's edge bundle."""
    return digits_run / "export"


@pytest.fixture
def earlier_run(digits_run) -> Path:
    """A finished run in the runs directory a case's command writes to: unchanged after it.

    A case passes `--runs-dir earlier_run.parent`; a refused command may leave its own failed
    run directory there, but must not touch this one.
    """
    before = digest(digits_run)
    yield digits_run
    assert digest(digits_run) == before, "a refused command changed an earlier run"
