"""Hostile run directories: damaged JSON, untrusted model files, files where directories go.

`tasklab report`, `explain` and `export` read a run directory that anyone may
have edited. Each case: exit status 2, one `error:` line naming the file and
the fix, no traceback, and nothing of the run changed by the failed command.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import keras
import pytest

from tests.hostile.harness import TASKLAB, assert_refused, capped, cli, digest


def edit_json(path: Path, change) -> None:
    record = json.loads(path.read_text())
    change(record)
    path.write_text(json.dumps(record))


REPORT_CASES = {
    # name: (file, change, words the error must name)
    "metrics_without_intervals": (
        "metrics.json", lambda m: m.pop("intervals"), ("metrics.json", "intervals"),
    ),
    "metrics_without_confusion_matrix": (
        "metrics.json", lambda m: m.pop("confusion_matrix"), ("metrics.json", "confusion_matrix"),
    ),
    "manifest_without_status": (
        "manifest.json", lambda m: m.pop("status"), ("manifest.json", "status"),
    ),
    "export_without_variants": (
        "export.json", lambda e: e.pop("variants"), ("export.json", "variants"),
    ),
    "interval_a_number": (
        "metrics.json", lambda m: m["intervals"].update(accuracy=0.5), ("cannot be built",),
    ),
    "test_metrics_null": (
        "metrics.json", lambda m: m.update(test=None), ("cannot be built",),
    ),
    "confusion_matrix_ragged": (
        "metrics.json", lambda m: m.update(confusion_matrix=[[1, 2], [3]]), ("cannot be built",),
    ),
    "class_names_a_number": (
        "metrics.json", lambda m: m.update(class_names=3), ("cannot be built",),
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(REPORT_CASES))
def test_report_of_damaged_json_is_one_error_line_and_keeps_the_report(case, digits_run, capfd):
    name, change, words = REPORT_CASES[case]
    edit_json(digits_run / name, change)
    before = digest(digits_run)
    assert_refused(cli(capfd, "report", str(digits_run)), *words)
    assert digest(digits_run) == before


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (b'{"task": "image_classification",', ("metrics.json", "not valid JSON", "line 1")),
        (b"[1, 2, 3]", ("metrics.json", "not an object")),
        (b"\xff\xfe{}", ("metrics.json", "UTF-8")),
    ],
    ids=["truncated", "list", "not_utf8"],
)
def test_report_of_unreadable_metrics_is_one_error_line(content, words, digits_run, capfd):
    (digits_run / "metrics.json").write_bytes(content)
    before = digest(digits_run)
    assert_refused(cli(capfd, "report", str(digits_run)), *words)
    assert digest(digits_run) == before


def test_report_of_a_metrics_file_of_gigabytes_is_refused_unread(digits_run, tmp_path):
    with (digits_run / "metrics.json").open("wb") as file:
        file.truncate(4 << 30)  # Sparse: 4 GB not written, more than the cap lets be read.
    outcome = capped([*TASKLAB, "report", str(digits_run)], tmp_path)
    assert_refused(outcome, "metrics.json", "bytes")


def test_report_with_a_file_where_plots_go_names_it(digits_run, capfd):
    plots = digits_run / "plots"
    for png in plots.iterdir():
        png.unlink()
    plots.rmdir()
    plots.write_text("in the way")
    before = digest(digits_run)
    assert_refused(cli(capfd, "report", str(digits_run)), "plots", "is a file", "move or remove")
    assert digest(digits_run) == before


def test_report_never_embeds_a_file_outside_the_run(digits_run, tmp_path, capfd):
    secret = tmp_path / "secret.png"
    secret.write_bytes(b"\x89PNG\r\n\x1a\nSECRET-BYTES")
    explain = {
        "task": "image_classification",
        "explain_input": "pixels",
        "methods": [],
        "examples": {"count": 0, "test_rows": [], "misclassified": 0},
        "plots": {"stolen": f"../{secret.name}", "absolute": str(secret)},
    }
    (digits_run / "explain.json").write_text(json.dumps(explain))
    outcome = cli(capfd, "report", str(digits_run))
    assert outcome.status == 0, outcome.stderr
    import base64

    stolen = base64.b64encode(secret.read_bytes()).decode()
    assert stolen not in (digits_run / "report.html").read_text()


def test_a_runs_dir_under_a_file_is_one_error_line(tmp_path, capfd):
    blocker = tmp_path / "runs"
    blocker.write_text("a file, not a directory")
    outcome = cli(
        capfd, "run", "digits", "--runs-dir", str(blocker / "more"), "--set", "train.epochs=1"
    )
    assert_refused(outcome, str(blocker), "is a file")
    assert blocker.read_text() == "a file, not a directory"


def lambda_model(path: Path) -> None:
    """A `.keras` file whose Lambda layer would run its code at load time."""
    inputs = keras.Input((8, 8, 1))
    outputs = keras.layers.Lambda(lambda x: x * 2)(inputs)
    keras.Model(inputs, outputs).save(path)


@pytest.mark.parametrize("command", ["explain", "export"])
def test_a_model_that_safe_mode_refuses_is_never_loaded(command, digits_run, capfd):
    lambda_model(digits_run / "model.keras")
    before = digest(digits_run)
    methods = ["--methods", "gradient"] if command == "explain" else []  # The run explained none.
    outcome = cli(capfd, command, str(digits_run), *methods)
    line = assert_refused(outcome, "model.keras", "not trusted")
    assert "safe_mode" in line
    assert digest(digits_run) == before


@pytest.mark.parametrize(
    "damage",
    [
        lambda path: path.write_bytes(path.read_bytes()[:2000]),
        lambda path: path.write_bytes(b"not a zip"),
        lambda path: zipfile.ZipFile(path, "w").close(),
    ],
    ids=["truncated", "not_a_zip", "empty_zip"],
)
def test_a_damaged_model_file_is_one_error_line(damage, digits_run, capfd):
    damage(digits_run / "model.keras")
    before = digest(digits_run)
    outcome = cli(capfd, "explain", str(digits_run), "--methods", "gradient")
    assert_refused(outcome, "model.keras", "tasklab run")
    assert digest(digits_run) == before


def test_explain_of_a_directory_that_is_no_run_is_one_error_line(tmp_path, capfd):
    assert_refused(cli(capfd, "explain", str(tmp_path)), str(tmp_path), "tasklab run")
