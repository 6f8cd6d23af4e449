"""The scaling benchmark runs its four setups and reports their ratios."""

from __future__ import annotations

import pytest

from bench import scaling
from pipelines import io


def test_scaling_benchmark_measures_every_setup(tmp_path, monkeypatch):
    monkeypatch.setattr(scaling, "RESULTS", tmp_path / "scaling.json")
    result = scaling.main(["--config", "configs/breast_cancer.yaml", "--epochs", "2"])
    assert io.read_json(tmp_path / "scaling.json") == result
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
        speed["workers_2"] / speed["workers_1"], rel=1e-3
    )
