"""The scaling benchmark runs its four setups and reports their ratios."""

from __future__ import annotations

import pytest

from bench import common, scaling
from tasklab.core import io


def test_scaling_benchmark_measures_every_setup(tmp_path, monkeypatch):
    monkeypatch.setattr(common, "RESULTS_DIR", tmp_path)
    result = scaling.main(["--config", "configs/breast_cancer.yaml", "--epochs", "2"])
    written = io.read_json(tmp_path / "scaling.json")
    assert written["setups"] == result["setups"] and written["machine"]["cpus"] >= 1
    setups = result["setups"]
    assert [(s["replicas"], s["workers"]) for s in setups.values()] == [
        (1, 1),
        (2, 1),
        (1, 1),
        (2, 2),
    ]
    assert all(s["examples_per_second"] > 0 for s in setups.values())
    speed = {name: s["examples_per_second"] for name, s in setups.items()}
    assert result["ratios"]["workers_2_vs_1"] == pytest.approx(
        speed["workers_2"] / speed["workers_1"],
        abs=1e-3,  # The ratio is rounded to 3 places.
    )
