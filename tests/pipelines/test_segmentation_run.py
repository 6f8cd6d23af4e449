"""A segmentation run end to end: scenes in; pixel baselines, region saliency, masks out."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

from tasklab.core import io
from tasklab.core.config import parse_config
from tasklab.core.problems import SEGMENTATION
from tasklab.data import load_dataset
from tasklab.data.textured_shapes import scene_spec
from tasklab.edge.litert import LiteRTModel
from tasklab.edge.run import main as edge_main
from tasklab.pipelines.run import run


def scenes_config(tmp_path: Path):
    return parse_config(
        {
            "name": "shapes",
            "task": "semantic_segmentation",
            "seed": 0,
            "data": {
                "uri": "builtin:textured_shapes",
                "val_fraction": 0.15,
                "test_fraction": 0.25,
                "scenes": {"scenes": 48, "size": 32, "cache_dir": str(tmp_path / "cache")},
            },
            "model": {"name": "unet", "filters": 8, "depth": 2},
            "train": {"epochs": 4, "batch_size": 8, "learning_rate": 0.005},
            "strategy": {"name": "cpu"},
            "export": {"variants": ["float32", "int8"], "latency_runs": 3},
            "explain": {"examples": 4, "ig_steps": 16},
        }
    )


def test_textured_shapes_run_end_to_end(tmp_path, capsys):
    config = scenes_config(tmp_path)
    result = run(config, runs_dir=tmp_path / "runs")
    run_dir = result.run_dir
    metrics = result.metrics
    assert metrics.primary_metric == "mean_iou" and metrics.higher_is_better
    low, high = metrics.intervals["mean_iou"]
    assert 0 <= low <= metrics.test["mean_iou"] <= high <= 1
    assert set(metrics.per_class) == {"background", "disc", "box", "triangle"}
    assert set(metrics.per_class["disc"]) == {"iou", "dice", "support"}
    assert np.asarray(metrics.confusion_matrix).shape == (4, 4)

    comparison = io.read_json(run_dir / "baselines.json")
    assert {entry["name"] for entry in comparison["models"]} == {"keras", "xgboost", "dummy"}
    assert comparison["test"]["name"].startswith("Wilcoxon signed-rank")
    assert "per-image IoU" in comparison["verdict"]
    xgboost = next(e for e in comparison["models"] if e["name"] == "xgboost")
    assert xgboost["metrics"]["mean_iou"] > 0 and xgboost["importances"]
    assert any(name.startswith("gaussian") for name in xgboost["importances"])

    explained = io.read_json(run_dir / "explain.json")
    assert explained["explain_input"] == "pixel_regions"
    methods = {method["name"]: method for method in explained["methods"]}
    assert set(methods) == {"grad_cam", "integrated_gradients"}
    assert all(method["skipped"] is None for method in methods.values())
    assert all({"randomization", "deletion"} <= set(m["checks"]) for m in methods.values())
    assert len(explained["example_ious"]) == 4
    assert {"overlays_worst", "overlays_best"} <= set(explained["plots"])

    exported = {e["name"]: e for e in io.read_json(run_dir / "export.json")["variants"]}
    assert exported["float32"]["passed"] and exported["float32"]["agreement"] > 0.999
    assert 0 <= exported["int8"]["agreement"] <= 1 and "mean_iou" in exported["int8"]["metrics"]

    # The runner's masks of the test images are the float32 variant's, pixel for pixel.
    dataset = load_dataset(config.data, config.seed, SEGMENTATION, "segmentation")
    test_images = np.asarray(
        dataset.test.make_dataset().map(lambda x, y: x).batch(64).get_single_element()
    )
    reference = LiteRTModel(run_dir / "export" / "float32.tflite").predict(test_images).argmax(-1)
    folder = (tmp_path / "cache" / scene_spec(config.data.scenes).cache_key()) / "images"
    by_content = {Image.open(f).tobytes(): f for f in sorted(folder.glob("*.png"))}
    files = [by_content[image.astype(np.uint8).tobytes()] for image in test_images]
    capsys.readouterr()
    out = tmp_path / "masks"
    code = edge_main(
        [
            str(run_dir / "export"),
            *map(str, files),
            "--variant",
            "float32",
            "--json",
            "--output-dir",
            str(out),
        ]
    )
    assert code == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(lines) == len(files)
    for line, expected in zip(lines, reference, strict=True):
        with Image.open(line["mask_file"]) as mask:
            np.testing.assert_array_equal(np.asarray(mask), expected)
        assert Path(line["overlay_file"]).is_file() and sum(line["classes"].values()) > 0.99

    report = (run_dir / "report.html").read_text(encoding="utf-8")
    assert "the half with the lowest IoU" in report and "What the pixel baseline looks at" in report
    assert "IoU" in report and "Dice" in report and "overlays_worst" not in report.split("<body")[0]
