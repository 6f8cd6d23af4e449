"""Column names are data: any string works in every stage, from training to the edge runner."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from tasklab.core import io
from tasklab.core.config import parse_config
from tasklab.edge.run import main as edge_main
from tasklab.pipelines.run import run

# XGBoost refuses '[', ']' and '<' in feature names; matplotlib reads '$...$' as math.
AWKWARD_COLUMNS = ["weight [kg]", "a<b", "cost ($) per $unit$", "naïve", "x,y", "  spaced  "]


def write_awkward_csv(path: Path, rows: int = 160) -> Path:
    rng = np.random.default_rng(0)
    values = rng.normal(size=(rows, len(AWKWARD_COLUMNS) - 1))
    colors = rng.choice(["red", "green", "blue"], size=rows)
    label = np.where(values[:, 0] + values[:, 1] + (colors == "red") > 0.5, "yes", "no")
    with path.open("w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow([*AWKWARD_COLUMNS, "label"])
        for row, color, target in zip(values, colors, label, strict=True):
            writer.writerow(
                [*(f"{v:.4f}" for v in row[:3]), color, *(f"{v:.4f}" for v in row[3:]), target]
            )
    return path


def test_awkward_column_names_work_in_every_stage(tmp_path, capfd):
    data = write_awkward_csv(tmp_path / "awkward.csv")
    config = parse_config(
        {
            "name": "awkward",
            "task": "tabular_classification",
            "data": {"uri": f"csv:{data}", "target": "label"},
            "train": {"epochs": 3},
            "compare": {"cv_max_rows": 0},
            "baselines": ["xgboost", "dummy"],
            "explain": {"methods": ["tree_shap", "keras_shap"], "examples": 8},
            "export": {"variants": ["float32"], "latency_runs": 2},
        }
    )
    run_dir = run(config, runs_dir=tmp_path / "runs", verbose=False).run_dir
    comparison = io.read_json(run_dir / "baselines.json")
    assert {m["name"] for m in comparison["models"]} == {"keras", "xgboost", "dummy"}
    explained = io.read_json(run_dir / "explain.json")
    assert set(explained["importance"]["columns"]) == set(AWKWARD_COLUMNS)
    assert all(method["skipped"] is None for method in explained["methods"])
    report = (run_dir / "report.html").read_text()
    assert "weight [kg]" in report and "a&lt;b" in report

    capfd.readouterr()
    assert edge_main([str(run_dir / "export"), str(data)]) == 0
    assert len(capfd.readouterr().out.splitlines()) == 160
