"""The export stage end to end: digits and breast_cancer runs, the bundle and its runner."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pandas as pd
import pytest

from tasklab.core import io
from tasklab.core.config import load_config
from tasklab.data import load_dataset
from tasklab.export.results import ExportResult
from tasklab.pipelines.run import export_run, run
from tasklab.tasks import get_task
from tasklab.training.train import split_inputs
from tests.conftest import REPO, write_image

TASKLAB = str(Path(sys.executable).with_name("tasklab"))
VARIANTS = ["float32", "float16", "dynamic_int8", "int8"]
# Few timed calls: tests check what is measured, bench/ measures it properly. The explain
# stage is tested in tests/explain.
FAST_TIMING = ["export.latency_runs=5", "explain.methods=[]"]


def runner(*args: str, check_no_tensorflow: bool = True) -> subprocess.CompletedProcess:
    """Runs `python -m tasklab.edge ARGS` and, by default, fails if it imported TensorFlow."""
    code = (
        "import runpy, sys\n"
        f"sys.argv = ['tasklab.edge', *{list(args)!r}]\n"
        "try:\n"
        "    runpy.run_module('tasklab.edge', run_name='__main__')\n"
        "finally:\n"
        "    if 'tensorflow' in sys.modules:\n"
        "        print('TENSORFLOW WAS IMPORTED', file=sys.stderr)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    if check_no_tensorflow:
        assert "TENSORFLOW WAS IMPORTED" not in done.stderr
    return done


def json_lines(done: subprocess.CompletedProcess) -> list[dict]:
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines()]


def run_config(name, *overrides):
    return load_config(REPO / "configs" / f"{name}.yaml", [*FAST_TIMING, *overrides])


def reload_test_split(run_dir):
    """The run's model, task and test inputs, rebuilt from the run directory alone."""
    config = load_config(run_dir / "config.yaml")
    task_cls = get_task(config.task)
    dataset = load_dataset(config.data, config.seed, task_cls.problem, task_cls.data_kind)
    task = task_cls(config.model, dataset.spec)
    model = keras.saving.load_model(run_dir / "model.keras", safe_mode=True)
    return model, dataset, split_inputs(dataset.test, task, 64, config.seed)


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    config = run_config("digits", "train.epochs=6", "baselines=[xgboost]", "compare.cv_max_rows=0")
    return run(config, runs_dir=tmp_path_factory.mktemp("runs")).run_dir


def test_digits_exports_every_variant_with_builtin_ops_and_passes_the_gate(digits_run):
    result = io.read_json(digits_run / "export.json")
    variants = {entry["name"]: entry for entry in result["variants"]}
    assert list(variants) == VARIANTS
    for entry in variants.values():
        assert entry["builtin_ops_only"] and not any(op.startswith("Flex") for op in entry["ops"])
        assert (digits_run / entry["path"]).stat().st_size == entry["size_bytes"]
        assert 0 < entry["latency_ms_median"] <= entry["latency_ms_p90"]
        assert entry["throughput_per_second"] > 0
    assert variants["float32"]["max_abs_diff"] <= 1e-4 and variants["float32"]["agreement"] >= 0.999
    int8 = variants["int8"]
    assert int8["size_bytes"] <= 0.3 * variants["float32"]["size_bytes"]
    assert int8["agreement"] >= 0.98 and int8["passed"]
    assert int8["input_dtype"] == "int8" and int8["input_quantization"]["scale"] > 0
    assert result["all_passed"]
    assert result["test_examples"] == io.read_json(digits_run / "metrics.json")["splits"]["test"]
    assert result["keras"]["latency_ms_median"] > 0 and result["xgboost"]["latency_ms_median"] > 0
    # The typed result reads the file back whole: every key is a declared field.
    typed = ExportResult.read(digits_run / "export.json")
    assert typed.to_json() == result and typed.variant("int8").passed


def test_digits_bundle_holds_what_a_device_needs(digits_run):
    bundle = digits_run / "export"
    names = io.read_json(digits_run / "metrics.json")["class_names"]
    assert (bundle / "labels.txt").read_text().splitlines() == names
    # Training artifacts stay out of the bundle: the SavedModel and model.keras sit beside it.
    assert (digits_run / "saved_model" / "saved_model.pb").is_file()
    assert not (bundle / "saved_model").exists() and not (bundle / "model.keras").exists()
    device_files = {path.name for path in bundle.iterdir()}
    assert device_files == {"labels.txt", "preprocessing.json", "runner", "README.txt"} | {
        f"{variant}.tflite" for variant in VARIANTS
    }
    spec = io.read_json(bundle / "preprocessing.json")
    assert spec["input"]["shape"] == [8, 8, 1] and spec["input"]["dtype"] == "float32"
    assert spec["input"]["kind"] == "image" and spec["input"]["value_range"] == [0.0, 255.0]
    # sklearn's digits are light strokes on black: the bundle says so.
    assert spec["input"]["appearance"]["polarity"] == "light on a dark background"
    assert spec["input"]["appearance"]["median_border_pixel"] < 20
    exported = io.read_json(digits_run / "export.json")["variants"]
    int8 = next(entry for entry in exported if entry["name"] == "int8")
    assert spec["variants"]["int8"]["input_quantization"] == int8["input_quantization"]
    assert spec["default_variant"] in spec["variants"]
    assert not list(digits_run.glob(".export*")), "the staging folder must be gone"
    html = (digits_run / "report.html").read_text()
    assert "Will it run on the device?" in html and "dynamic_int8" in html


def test_the_bundle_runs_alone_with_its_own_runner(digits_run, tmp_path):
    """A copy of the bundle, anywhere, predicts with the runner it carries: no TensorFlow and
    none of tasklab's own modules are imported."""
    bundle = shutil.copytree(digits_run / "export", tmp_path / "device" / "bundle")
    model, _, test_inputs = reload_test_split(digits_run)
    image = write_image(tmp_path / "digit.png", test_inputs[3].astype(np.uint8))
    code = (
        "import runpy, sys\n"
        f"sys.argv = ['runner', '.', {str(image)!r}, '--json', '--variant', 'float32']\n"
        "try:\n"
        "    runpy.run_module('runner', run_name='__main__')\n"
        "except SystemExit as exit:\n"
        "    status = exit.code\n"
        "loaded = [m for m in sys.modules if m.split('.')[0] in\n"
        "          ('tensorflow', 'keras', 'tasklab')]\n"
        "print('LOADED', loaded, 'STATUS', status)\n"
    )
    done = subprocess.run(
        [sys.executable, "-E", "-s", "-c", code],
        cwd=bundle,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "LOADED [] STATUS 0" in done.stdout, done.stdout + done.stderr
    prediction = json.loads(done.stdout.splitlines()[0])
    expected = model.predict(test_inputs[3:4], verbose=0)[0]
    assert prediction["index"] == int(expected.argmax())
    assert (bundle / "runner" / "requirements.txt").read_text().startswith("ai-edge-litert")


def test_runner_on_pngs_prints_the_keras_label_without_tensorflow(digits_run, tmp_path):
    model, dataset, test_inputs = reload_test_split(digits_run)
    chosen = np.arange(0, len(test_inputs), 12)
    paths = [
        str(write_image(tmp_path / f"test_{i}.png", test_inputs[i].astype(np.uint8)))
        for i in chosen
    ]
    expected = model.predict(test_inputs[chosen], verbose=0)
    names = dataset.spec.class_names
    for variant in ("float32", "int8"):
        predictions = json_lines(
            runner(str(digits_run / "export"), *paths, "--variant", variant, "--json")
        )
        assert [p["input"] for p in predictions] == paths
        labels = np.array([p["label"] for p in predictions])
        keras_labels = np.array([names[i] for i in expected.argmax(axis=1)])
        if variant == "float32":
            assert list(labels) == list(keras_labels)
        else:
            # int8 rounding may flip a near tie (the gate measures that as agreement); every
            # example the Keras model is clear about must keep its label.
            top_two = np.sort(expected, axis=1)[:, -2:]
            clear = top_two[:, 1] - top_two[:, 0] >= 0.1
            assert clear.mean() > 0.8 and list(labels[clear]) == list(keras_labels[clear])
    text = runner(str(digits_run / "export"), paths[0])
    label, score = text.stdout.strip().split("\t")[1:]
    assert label == names[expected[0].argmax()] and 0 < float(score) <= 1


def test_runner_errors_name_the_problem(digits_run, tmp_path):
    bundle = str(digits_run / "export")
    not_image = tmp_path / "notes.png"
    not_image.write_text("not an image")
    cases = [
        ((str(tmp_path), str(not_image)), "not an export bundle"),
        ((bundle, str(tmp_path / "missing.png")), "does not exist"),
        ((bundle, str(not_image)), "not a readable image"),
        ((bundle, str(not_image), "--variant", "int4"), "no variant 'int4'"),
    ]
    for args, message in cases:
        done = runner(*args)
        assert done.returncode == 2 and message in done.stderr, done.stderr


def test_failing_int8_is_triaged_and_strict_export_exits_1(digits_run, tmp_path):
    copy = tmp_path / digits_run.name
    shutil.copytree(digits_run, copy)
    # An impossible max abs diff makes int8 fail, which starts the quantization triage.
    done = subprocess.run(
        [
            TASKLAB, "export", str(copy), "--variants", "int8",
            "--set", "export.int8.max_abs_diff=1e-9", "--set", "export.latency_runs=5",
            "--set", "export.triage_layers=2", "--strict",
        ],
        capture_output=True, text=True, timeout=600,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
    )  # fmt: skip
    assert done.returncode == 1, done.stderr
    assert "failed the parity gate" in done.stderr and "int8_selective" in done.stderr
    result = io.read_json(copy / "export.json")
    # Nothing can pass that gate, so both retries run: the worst layers, then the float front.
    names = [entry["name"] for entry in result["variants"]]
    assert names == ["int8", "int8_selective", "int8_float_front"]
    selective, front = result["variants"][1:]
    assert len(selective["kept_float"]) == 2 and selective["builtin_ops_only"]
    errors = [layer["rmse_over_scale"] for layer in selective["layer_errors"]]
    assert errors == sorted(errors, reverse=True) and len(errors) > 2
    assert selective["kept_float"] == [layer["tensor"] for layer in selective["layer_errors"][:2]]
    assert selective["input_dtype"] == "float32" and selective["agreement"] >= 0.98
    worst = selective["kept_float"][0]
    assert front["kept_float"][-1] == worst and len(front["kept_float"]) >= 1
    assert not result["all_passed"]
    assert "Quantization triage" in (copy / "report.html").read_text()


def test_export_refuses_other_settings_and_non_runs(digits_run, tmp_path):
    from tasklab.core.config import ConfigError

    with pytest.raises(ConfigError, match=r"Only export\.\* settings"):
        export_run(digits_run, ["train.epochs=3"])
    with pytest.raises(FileNotFoundError, match="not a trained run directory"):
        export_run(tmp_path)


def test_breast_cancer_runner_on_raw_csv_rows_matches_keras_on_the_whole_test_split(tmp_path):
    config = run_config(
        "breast_cancer", "train.epochs=15", "baselines=[]", "export.variants=[float32,int8]"
    )
    run_dir = run(config, runs_dir=tmp_path / "runs").run_dir
    model, dataset, test_inputs = reload_test_split(run_dir)
    # The raw rows as a user would have them: the columns by name, the target included.
    rows = pd.DataFrame(dataset.test.frame).assign(target=dataset.test.labels)
    rows.to_csv(tmp_path / "rows.csv", index=False)
    expected = model.predict(test_inputs, verbose=0)
    names = dataset.spec.class_names
    for variant in ("float32", "int8"):
        predictions = json_lines(
            runner(
                str(run_dir / "export"), str(tmp_path / "rows.csv"), "--variant", variant, "--json"
            )
        )
        assert len(predictions) == len(test_inputs)
        labels = [p["label"] for p in predictions]
        expected_labels = [names[i] for i in expected.argmax(axis=1)]
        if variant == "float32":
            assert labels == expected_labels
            scores = np.array([p["top"][names[1]] for p in predictions])
            np.testing.assert_allclose(scores, expected[:, 1], atol=1e-4)
        else:
            agreement = io.read_json(run_dir / "export.json")["variants"][1]["agreement"]
            assert np.mean(np.array(labels) == np.array(expected_labels)) == agreement
    missing = tmp_path / "missing_column.csv"
    rows.drop(columns=[rows.columns[0]]).to_csv(missing, index=False)
    done = runner(str(run_dir / "export"), str(missing))
    assert done.returncode == 2 and f"lacks the column(s) ['{rows.columns[0]}']" in done.stderr
