"""Hostile CSV files: wrong encodings, delimiters, markers, targets; named, never repaired."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tasklab.core import io
from tasklab.core.config import DataConfig
from tasklab.data import load_dataset
from tests.hostile.harness import (
    TASKLAB,
    TENSORFLOW_ADDRESS_SPACE,
    assert_refused,
    capped,
    cli,
    quick_config,
)

CITIES = ["Zürich", "Zärich", "Genève", "Bern"]


def table_text(rows: int = 40, city_column: bool = True, delimiter: str = ",") -> str:
    rng = np.random.default_rng(0)
    header = ["size", "city", "label"] if city_column else ["size", "label"]
    lines = [delimiter.join(header)]
    for index in range(rows):
        size = f"{rng.normal():.3f}"
        label = "big" if index % 2 else "small"
        fields = [size, CITIES[index % 4], label] if city_column else [size, label]
        lines.append(delimiter.join(fields))
    return "\n".join(lines) + "\n"


def tabular_config(tmp_path: Path, data: Path, *extra: str) -> Path:
    data_yaml = f"uri: 'csv:{data}', target: label{''.join(extra)}"
    return quick_config(tmp_path, "table", "tabular_classification", data_yaml)


def run_on(tmp_path: Path, capfd, content: bytes, *extra: str, runs: Path | None = None):
    data = tmp_path / "table.csv"
    data.write_bytes(content)
    config = tabular_config(tmp_path, data, *extra)
    return cli(capfd, "run", str(config), "--runs-dir", str(runs or tmp_path / "runs"))


def test_a_latin1_csv_is_refused_with_the_line_and_the_fix(tmp_path, capfd, earlier_run):
    content = table_text().encode("latin-1")
    outcome = run_on(tmp_path, capfd, content, runs=earlier_run.parent)
    line = assert_refused(outcome, "line 2", "data.encoding", "UTF-8")
    assert "ü" in line  # The bytes, read as Windows-1252, so the user sees what they are.


def test_a_latin1_csv_loads_with_its_encoding_and_keeps_every_city(tmp_path):
    data = tmp_path / "table.csv"
    data.write_bytes(table_text().encode("latin-1"))
    config = DataConfig(uri=f"csv:{data}", target="label", encoding="latin-1")
    dataset = load_dataset(config, seed=0, problem="classification", kind="tabular")
    (city,) = [c for c in dataset.spec.schema.columns if c.name == "city"]
    assert set(city.categories) == set(CITIES)  # Zürich and Zärich stay two cities.


def test_an_unknown_encoding_is_a_config_error(tmp_path, capfd):
    outcome = run_on(tmp_path, capfd, table_text().encode(), ", encoding: klingon")
    assert_refused(outcome, "data.encoding", "klingon")


@pytest.mark.parametrize(("delimiter", "word"), [(";", "semicolon"), ("\t", "tab"), ("|", "pipe")])
def test_another_delimiter_is_named(delimiter, word, tmp_path, capfd):
    content = table_text(city_column=False, delimiter=delimiter).encode()
    assert_refused(run_on(tmp_path, capfd, content), word, "comma-separated")


def test_a_ragged_row_after_quoted_line_breaks_names_its_file_line(tmp_path, capfd):
    lines = table_text().splitlines()
    lines[1] = '1.0,"Zürich\nnorth\nside",big'  # One record over file lines 2 to 4.
    lines[3] = "1.0,Bern,small,extra"  # The record on file line 6.
    content = ("\n".join(lines) + "\n").encode()
    assert_refused(run_on(tmp_path, capfd, content), "Line 6", "4 fields", "header has 3")


def test_question_marks_are_missing_values_and_counted(tmp_path):
    lines = table_text().splitlines()
    for index in range(1, len(lines), 5):
        lines[index] = "?," + lines[index].split(",", 1)[1]
    data = tmp_path / "table.csv"
    data.write_text("\n".join(lines) + "\n")
    dataset = load_dataset(
        DataConfig(uri=f"csv:{data}", target="label"), 0, "classification", "tabular"
    )
    (size,) = [c for c in dataset.spec.schema.columns if c.name == "size"]
    assert size.kind == "numeric"  # Not a one-hot over number strings.
    assert any("Column 'size': 8 value(s) ['?'] read as missing" in n for n in dataset.notes)


@pytest.mark.parametrize(
    ("target_values", "words"),
    [
        (["inf" if i == 7 else str(i % 2) for i in range(40)], ("infinite", "CSV line 9")),
        ([f"{i / 3:.2f}" for i in range(40)], ("continuous", "CSV lines 3")),
        (["" if i == 4 else "a" if i % 2 else "b" for i in range(40)], ("missing", "6")),
        (["a"] * 40, ("single class", "a")),
    ],
    ids=["infinite", "continuous", "missing", "one_class"],
)
def test_a_bad_class_column_names_its_rows(target_values, words, tmp_path, capfd):
    rows = [f"{i * 0.1:.1f},{value}" for i, value in enumerate(target_values)]
    content = ("size,label\n" + "\n".join(rows) + "\n").encode()
    assert_refused(run_on(tmp_path, capfd, content), "label", *words)


def test_a_thousand_classes_too_small_to_split_are_summarized(tmp_path, capfd):
    rows = [f"{i * 0.1:.1f},class{i // 2}" for i in range(2000)]  # 1,000 classes of 2 rows.
    content = ("size,label\n" + "\n".join(rows) + "\n").encode()
    line = assert_refused(run_on(tmp_path, capfd, content), "1,000 of the 1,000 classes")
    assert "and 990 more" in line


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (b"", ("empty",)),
        (b"size,label\n", ("no data rows",)),
        (b"size,size,label\n1,2,a\n", ("duplicate column names",)),
        (b"size,label\n1.0,a,extra\n", ("Line 2", "3 fields")),
        (b"size,label\n1.0,a\n" + bytes(64), ("Line 3", "NUL bytes", "not a CSV")),
        (b'size,label\n1.0,a\n2.0,"b\n', ("cannot be read as CSV", "close every quoted")),
    ],
    ids=["empty", "header_only", "duplicate_columns", "ragged", "binary", "unclosed_quote"],
)
def test_a_malformed_csv_is_one_error_line(content, words, tmp_path, capfd, earlier_run):
    outcome = run_on(tmp_path, capfd, content, runs=earlier_run.parent)
    assert_refused(outcome, "table.csv", *words)


def test_a_missing_target_column_names_the_columns(tmp_path, capfd):
    outcome = run_on(tmp_path, capfd, table_text().replace("label", "lable").encode())
    assert_refused(outcome, "label", "lable")


def test_a_thousand_classes_train_and_report_in_bounded_memory(tmp_path):
    """1,000 classes: the confusion-matrix plot drew a million labels (17.7 GB)."""
    rows = [f"{(i % 7) * 0.1:.1f},{i % 5},class{i // 6}" for i in range(6000)]
    data = tmp_path / "table.csv"
    data.write_text("size,shade,label\n" + "\n".join(rows) + "\n")
    config = tabular_config(tmp_path, data, ", val_fraction: 0.34, test_fraction: 0.34")
    outcome = capped(
        [*TASKLAB, "run", str(config), "--runs-dir", str(tmp_path / "runs")],
        tmp_path,
        address_space=TENSORFLOW_ADDRESS_SPACE,
    )
    assert outcome.status == 0, outcome.stderr[-3000:]
    run_dir = Path(outcome.stdout.strip().splitlines()[-1])
    assert io.read_json(run_dir / "manifest.json")["status"] == "complete"
    assert (run_dir / "report.html").is_file()
    with Image.open(run_dir / "plots" / "confusion_matrix.png") as plot:
        assert max(plot.size) < 2000  # The 30 most confused classes, not 1,000.


@pytest.mark.parametrize(
    ("first_line", "fields"),
    [("150,4,setosa,versicolor,virginica", 5), ("178,13,class_0", 5)],
    ids=["iris_csv", "wine_data_csv"],
)
def test_a_csv_without_a_header_row_says_so(first_line, fields, tmp_path, capfd):
    # As scikit-learn's iris.csv and wine_data.csv: a first line of counts and class names.
    rows = [",".join([f"{5 + i / 10:.1f}"] * (fields - 1) + [str(i % 3)]) for i in range(30)]
    outcome = run_on(tmp_path, capfd, "\n".join([first_line, *rows]).encode())
    assert_refused(outcome, "table.csv", "header row")
