from __future__ import annotations

import base64
import re

import pytest
import yaml
from markupsafe import escape

from tasklab.core import io
from tasklab.core.config import dump_config, load_config
from tasklab.pipelines.report import format_size, used_config, write_report
from tests.conftest import REPO

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


def test_the_per_class_table_shows_the_figures_the_problem_reports(tmp_path):
    write_fake_run(tmp_path, ["a", "b"])
    html = write_report(tmp_path).read_text()
    assert "<th>precision</th><th>recall</th><th>F1</th><th>support</th>" in html
    metrics = io.read_json(tmp_path / "metrics.json")
    metrics["per_class"] = {  # A segmentation run's: IoU and Dice, None for an absent class.
        "background": {"iou": 0.91, "dice": 0.95, "support": 4000},
        "disc": {"iou": None, "dice": None, "support": 0},
    }
    io.write_json(tmp_path / "metrics.json", metrics)
    html = write_report(tmp_path).read_text()
    assert "<th>IoU</th><th>Dice</th><th>support</th>" in html and "precision" not in html
    assert "<td>0.910</td><td>0.950</td><td>4000</td>" in html
    assert "<td>n/a</td><td>n/a</td><td>0</td>" in html


def test_report_of_a_directory_that_is_not_a_run(tmp_path):
    with pytest.raises(FileNotFoundError, match="not a finished run directory"):
        write_report(tmp_path)


def test_report_flags_a_failing_export_variant_and_shows_the_triage(tmp_path):
    write_fake_run(tmp_path, ["a", "b"])
    variant = {
        **export_variant("int8", 1000, False, ["agreement 0.9000 < 0.98"]),
        "size_ratio": 0.25,
        "agreement": 0.9,
        "max_abs_diff": 0.2,
        "metrics": {"accuracy": 0.7},
        "latency_ms_median": 0.01,
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
            "higher_is_better": True,
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
            "task": "image_classification", "explain_input": "pixels",
            "examples": {"count": 2, "test_rows": [0, 1], "misclassified": 1},
            "methods": [
                {"name": "integrated_gradients", "model": "keras", "description": "d",
                 "algorithm": "integrated_gradients", "seconds_per_example": 0.0123,
                 "checks": {"completeness": completeness, "randomization": randomization,
                            "deletion": deletion}},
                {"name": "grad_cam", "model": "keras", "description": "d",
                 "seconds_per_example": None, "checks": {},
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


def export_variant(name, size_bytes, passed, failures=()):
    """One `export.json` variant entry as the export stage writes it."""
    return {
        "name": name,
        "path": f"export/{name}.tflite",
        "size_bytes": size_bytes,
        "size_ratio": size_bytes / 19444,
        "builtin_ops_only": True,
        "ops": ["CONV_2D", "SOFTMAX"],
        "input_dtype": "float32",
        "input_quantization": {"scale": 0.0, "zero_point": 0},
        "output_quantization": {"scale": 0.0, "zero_point": 0},
        "agreement": 1.0 if passed else 0.6,
        "max_abs_diff": 1e-3,
        "mean_abs_diff": 1e-4,
        "metrics": {"accuracy": 0.75},
        "metric_drop": 0.0 if passed else 0.15,
        "latency_ms_median": 0.0123,
        "latency_ms_p90": 0.02,
        "throughput_per_second": 1e5,
        "convert_seconds": 1.5,
        "passed": passed,
        "failures": list(failures),
        "kept_float": [],
        "layer_errors": [],
    }


def write_all_stages(run_dir, default="float16"):
    """baselines.json, explain.json, export.json and the bundle's spec of a run with every stage."""
    verdict = f"The Keras small_cnn beats XGBoost, the best baseline ({EVIL}; p = 0.01)."
    io.write_json(
        run_dir / "baselines.json",
        {
            "primary_metric": "accuracy",
            "higher_is_better": True,
            "protocol": {"held_out": {}, "cv": None},
            "models": [
                {"name": "keras", "label": "Keras small_cnn", "metrics": {"accuracy": 0.75},
                 "intervals": {"accuracy": [0.6, 0.9]}, "fit_seconds": 1.0,
                 "predict_ms_per_1k": 2.0, "size_bytes": 86391},
                {"name": "random_forest", "label": "Random forest", "metrics": {"accuracy": 0.5},
                 "intervals": {"accuracy": [0.3, 0.7]}, "fit_seconds": 1.0,
                 "predict_ms_per_1k": 2.0, "size_bytes": 17_634_570},
            ],
            "test": None,
            "verdict": verdict,
        },
    )  # fmt: skip
    checks = {
        "additivity": {"value": 1e-7, "passed": True},
        "randomization": {"value": 0.1, "threshold": 0.5, "passed": True, "randomized": "re-init"},
        "deletion": {"value": 0.2, "auc": 0.2, "random_auc": 0.5, "passed": True},
    }
    failed = {**checks, "deletion": {**checks["deletion"], "passed": False}}
    io.write_json(
        run_dir / "explain.json",
        {
            "task": "image_classification", "explain_input": "pixels",
            "examples": {"count": 2, "test_rows": [0, 1]},
            "methods": [
                {"name": "keras_shap", "model": "keras", "description": "d", "algorithm": "deep",
                 "seconds_per_example": 0.1, "checks": checks},
                {"name": "saliency", "model": "keras", "description": "d", "algorithm": "saliency",
                 "seconds_per_example": 0.1, "checks": failed},
                {"name": "grad_cam", "model": "keras", "description": "d",
                 "seconds_per_example": None, "checks": {},
                 "skipped": "no convolution"},
            ],
            "plots": {},
        },
    )  # fmt: skip
    variants = [
        export_variant("float32", 19444, True),
        export_variant("float16", 12200, True),
        export_variant("int8", 9984, False, ["agreement 0.6000 < 0.98"]),
    ]
    io.write_json(
        run_dir / "export.json",
        {
            "bundle": "export", "test_examples": 4, "calibration_examples": 10, "num_threads": 1,
            "primary_metric": "accuracy", "higher_is_better": True,
            "keras": {"metrics": {"accuracy": 0.75}, "size_bytes": 86391,
                      "latency_ms_median": 1.0, "latency_ms_p90": 1.2},
            "xgboost": None, "variants": variants, "all_passed": False,
        },
    )  # fmt: skip
    # The export stage records the default (the smallest that passed) in the bundle only.
    io.write_json(run_dir / "export" / "preprocessing.json", {"default_variant": default})
    return verdict


def summary_of(html):
    """The report's summary block: the first thing after the title."""
    return html[html.index('<dl class="summary"') : html.index("</dl>")]


def test_summary_answers_the_four_questions_and_links_each_to_its_section(tmp_path):
    write_fake_run(tmp_path, ["a", "b"])
    verdict = write_all_stages(tmp_path)
    html = write_report(tmp_path).read_text()
    summary = summary_of(html)
    assert html.index(summary) < html.index("1. How good is the model?")
    assert "Test accuracy <strong>0.7500</strong>" in summary and "0.6000\u20130.9000" in summary
    assert escape(verdict) in summary  # As jinja escapes it. and "<script>" not in html
    assert "Passed every check: keras_shap." in summary
    assert "FAILED a check: saliency" in summary and "Did not run: grad_cam." in summary
    # The bundle's default, with its size, latency and gate; not the smallest (int8 failed).
    assert "<strong>float16</strong>, the edge bundle's default" in summary
    assert "12.2 KB, 0.012 ms median latency, gate passed" in summary
    assert "2 of 3 variants passed their gate" in summary
    for anchor in ("quality", "baselines", "explain", "device"):
        assert f'href="#{anchor}"' in summary and f'id="{anchor}"' in html
    assert 'float16 <span class="tag"' in html  # The export table marks the default too.


def test_summary_says_when_the_default_variant_failed_its_gate(tmp_path):
    write_fake_run(tmp_path, ["a", "b"])
    write_all_stages(tmp_path, default="int8")
    summary = summary_of(write_report(tmp_path).read_text())
    assert "No variant passed its gate" in summary and "<strong>int8</strong>" in summary
    assert "9.98 KB" in summary and "FAILED</span> (agreement 0.6000 &lt; 0.98)" in summary


STAGE_DAMAGE = {
    # name: (file, change, words the error must name)
    "baselines_without_models": ("baselines.json", lambda b: b.pop("models"), ["models"]),
    "baselines_models_not_a_list": (
        "baselines.json", lambda b: b.update(models={"keras": {}}), ["holding dict"],
    ),
    "baselines_entry_without_label": (
        "baselines.json", lambda b: b["models"][1].pop("label"), ["label"],
    ),
    "explain_without_methods": ("explain.json", lambda e: e.pop("methods"), ["methods"]),
    "explain_method_without_checks": (
        "explain.json", lambda e: e["methods"][0].pop("checks"), ["checks"],
    ),
    "explain_examples_a_number": (
        "explain.json", lambda e: e.update(examples=3), ["not an object"],
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(STAGE_DAMAGE))
def test_a_damaged_stage_result_is_refused_naming_its_file_and_key(tmp_path, case):
    name, change, words = STAGE_DAMAGE[case]
    write_fake_run(tmp_path, ["a", "b"])
    write_all_stages(tmp_path)
    record = io.read_json(tmp_path / name)
    change(record)
    io.write_json(tmp_path / name, record)
    with pytest.raises(io.ArtifactReadError) as raised:
        write_report(tmp_path)
    message = str(raised.value)
    assert name in message and all(word in message for word in words), message
    assert not (tmp_path / "report.html").exists()


def test_summary_says_which_stages_did_not_run(tmp_path):
    write_fake_run(tmp_path, ["a", "b"])
    summary = summary_of(write_report(tmp_path).read_text())
    assert "Not compared: this run fitted no baselines." in summary
    assert "Not explained: this run ran no explanation method." in summary
    assert "Not exported: this run made no LiteRT variant." in summary
    assert "href=" not in summary.split("1. How good?")[1]  # No link to a missing section.


def test_report_sizes_are_human_readable(tmp_path):
    write_fake_run(tmp_path, ["a", "b"])
    write_all_stages(tmp_path)
    html = write_report(tmp_path).read_text()
    assert ">17.6 MB</td>" in html and ">19.4 KB</td>" in html and ">86.4 KB</td>" in html
    assert ">17634570<" not in html and ">19444<" not in html  # Exact bytes only on hover.
    assert 'title="17634570 bytes"' in html


@pytest.mark.parametrize(
    ("size", "text"),
    [(None, "n/a"), (277, "277 B"), (999, "999 B"), (1000, "1 KB"), (9984, "9.98 KB"),
     (999_600, "1 MB"), (12_500_000, "12.5 MB"), (1.2e9, "1.2 GB"), (3.5e12, "3,500 GB")],
)  # fmt: skip
def test_format_size(size, text):
    assert format_size(size) == text


def test_resolved_config_shows_only_the_sections_of_the_runs_kind_of_data(tmp_path):
    config = load_config(REPO / "configs" / "digits.yaml")
    full = dump_config(config)
    shown, hidden = used_config(full, "image")
    assert set(hidden) == {"data.tokenizer", "data.audio", "data.synthesis", "data.scenes"}
    data = yaml.safe_load(full)["data"]
    kept = {key: value for key, value in data.items() if f"data.{key}" not in hidden}
    assert yaml.safe_load(shown)["data"] == kept and "uri" in kept
    assert set(data) - set(kept) == {"tokenizer", "audio", "synthesis", "scenes"}
    assert "data.tokenizer" in used_config(full, "audio")[1]
    assert "data.audio" not in used_config(full, "audio")[1]
    assert "data.audio" in used_config(full, "text")[1]
    assert used_config(full, None) == (full, [])  # A run from before data_kind was recorded.

    write_fake_run(tmp_path, ["a", "b"])
    metrics = io.read_json(tmp_path / "metrics.json")
    io.write_json(tmp_path / "metrics.json", {**metrics, "data_kind": "image"})
    io.write_text(tmp_path / "config.yaml", full)
    html = write_report(tmp_path).read_text()
    config_block = html[html.index("<h3>Resolved config</h3>") :]
    assert "sample_rate" not in config_block and "sequence_length" not in config_block
    assert "Left out: data.tokenizer, data.audio, data.synthesis" in config_block
    assert "val_fraction: 0.15" in config_block


def test_the_config_of_a_segmentation_run_shows_its_image_and_scene_sections():
    full = dump_config(load_config(REPO / "configs" / "textured_shapes.yaml"))
    _, hidden = used_config(full, "segmentation")
    assert set(hidden) == {"data.tokenizer", "data.audio", "data.synthesis"}  # Images kept.
    assert "data.scenes" in used_config(full, "image")[1]
    assert "data.image" not in used_config(full, "image")[1]
