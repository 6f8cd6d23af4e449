from __future__ import annotations

import base64
import re

import pytest

from pipelines import io
from pipelines.report import write_report

EVIL = "<script>alert('x')</script>"


def write_fake_run(run_dir, class_names):
    """The JSON a finished run leaves, written by hand: the report must need nothing else."""
    k = len(class_names)
    io.write_json(
        run_dir / "metrics.json",
        {
            "task": "image_classification",
            "dataset": f"folder:/data/{EVIL}",
            "model": "small_cnn",
            "strategy": "cpu",
            "replicas": 1,
            "seed": 0,
            "primary_metric": "accuracy",
            "higher_is_better": True,
            "test": {"accuracy": 0.75, "macro_f1": 0.7, "roc_auc_ovr": None, "log_loss": 0.6},
            "intervals": {"accuracy": [0.6, 0.9], "macro_f1": [0.55, 0.85]},
            "per_class": {
                name: {"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 2}
                for name in class_names
            },
            "confusion_matrix": [[2 if i == j else 0 for j in range(k)] for i in range(k)],
            "class_names": class_names,
            "splits": {"train": 10, "val": 2, "test": 4},
            "epochs_run": 2,
            "best_epoch": 2,
            "stopped_early": False,
            "train_seconds": 1.5,
            "examples_per_second": 13.3,
            "data_notes": [f"Skipped 1 corrupt image file(s): {EVIL}.png."],
        },
    )
    io.write_json(
        run_dir / "manifest.json",
        {"status": "complete", "data_fingerprint": "abc", "versions": {"tensorflow": "2.21.0"}},
    )
    io.write_json(
        run_dir / "history.json",
        [
            {"epoch": e, "loss": 1.0 / e, "accuracy": 0.5, "val_loss": 1.2 / e, "val_accuracy": 0.4}
            for e in (1, 2)
        ],
    )
    io.write_text(run_dir / "config.yaml", f"name: x\nnote: '{EVIL}'\n")


def test_report_escapes_every_string_from_data_and_config(tmp_path):
    write_fake_run(tmp_path, ["cat", EVIL])
    html = write_report(tmp_path).read_text()
    assert "<script>" not in html
    assert html.count("&lt;script&gt;") >= 4  # class name x2, dataset, note, config
    assert "0.7500" in html and "0.6000 \u2013 0.9000" in html and "n/a" in html


def test_report_embeds_its_plots_as_png(tmp_path):
    write_fake_run(tmp_path, ["a", "b"])
    html = write_report(tmp_path).read_text()
    images = re.findall(r'src="data:image/png;base64,([^"]+)"', html)
    assert len(images) == 2
    for image in images:
        assert base64.b64decode(image).startswith(b"\x89PNG")
    assert (tmp_path / "plots" / "confusion_matrix.png").is_file()


def test_report_of_a_directory_that_is_not_a_run(tmp_path):
    with pytest.raises(FileNotFoundError, match="not a finished run directory"):
        write_report(tmp_path)


def test_report_flags_a_failing_export_variant_and_shows_the_triage(tmp_path):
    write_fake_run(tmp_path, ["a", "b"])
    variant = {
        "name": "int8",
        "size_bytes": 1000,
        "size_ratio": 0.25,
        "builtin_ops_only": True,
        "agreement": 0.9,
        "max_abs_diff": 0.2,
        "metrics": {"accuracy": 0.7},
        "latency_ms_median": 0.01,
        "latency_ms_p90": 0.02,
        "throughput_per_second": 1e5,
        "passed": False,
        "failures": ["agreement 0.9000 < 0.98"],
        "kept_float": [],
        "layer_errors": [],
    }
    selective = {
        **variant,
        "name": "int8_selective",
        "passed": True,
        "failures": [],
        "kept_float": [EVIL],
        "layer_errors": [{"op": "CONV_2D", "tensor": EVIL, "rmse_over_scale": 2.5}],
    }
    io.write_json(
        tmp_path / "export.json",
        {
            "bundle": "export",
            "test_examples": 4,
            "calibration_examples": 10,
            "num_threads": 1,
            "primary_metric": "accuracy",
            "keras": {"metrics": {"accuracy": 0.75}, "size_bytes": 5000,
                      "latency_ms_median": 1.0, "latency_ms_p90": 1.2},
            "xgboost": None,
            "variants": [variant, selective],
            "all_passed": False,
        },
    )  # fmt: skip
    html = write_report(tmp_path).read_text()
    assert "Will it run on the device?" in html and "1 exported variant(s) FAILED" in html
    assert "<strong>FAILED</strong>: agreement 0.9000 &lt; 0.98" in html
    assert "Quantization triage" in html and "2.500" in html
    assert "<script>" not in html and "XGBoost baseline" not in html


def test_report_states_each_explanation_check_and_escapes_what_it_shows(tmp_path):
    write_fake_run(tmp_path, ["a", "b"])
    deletion = {"value": 0.2, "auc": 0.2, "random_auc": 0.5, "curve": [1, 0], "passed": True}
    randomization = {"value": 0.9, "threshold": 0.5, "passed": False, "randomized": "re-init"}
    completeness = {
        "value": 0.03,
        "passed": True,
        "per_example": [
            {"row": 0, "error": 0.01, "steps": 64},
            {"row": 1, "error": 0.03, "steps": 128},
        ],
    }
    (tmp_path / "explain").mkdir()
    (tmp_path / "explain" / "deletion_curves.png").write_bytes(
        base64.b64decode(re.findall(r'base64,([^"]+)"', write_report(tmp_path).read_text())[0])
    )
    io.write_json(
        tmp_path / "explain.json",
        {
            "examples": {"count": 2, "test_rows": [0, 1], "misclassified": 1},
            "methods": [
                {"name": "integrated_gradients", "model": "keras",
                 "algorithm": "integrated_gradients", "seconds_per_example": 0.0123,
                 "checks": {"completeness": completeness, "randomization": randomization,
                            "deletion": deletion}},
                {"name": "grad_cam", "model": "keras", "seconds_per_example": None, "checks": {},
                 "skipped": f"explain.gradcam_layer '{EVIL}' is not a layer of the model"},
            ],
            "plots": {"deletion_curves": "explain/deletion_curves.png", "missing": "explain/x.png"},
        },
    )  # fmt: skip
    html = write_report(tmp_path).read_text()
    assert "3. Why does it predict what it predicts?" in html and "4. Will it" not in html
    assert "FAILED a check: integrated_gradients" in html
    assert "0.900 <strong>FAILED</strong>" in html and "0.200 / 0.500 passed" in html
    assert "completeness 3.00e-02" in html and "0.0300 (128)" in html and "12.30" in html
    assert "grad_cam did not run" in html and "<script>" not in html
    assert html.count("data:image/png;base64,") == 3  # The two run plots and the one PNG found.
