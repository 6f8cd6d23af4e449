"""Hostile text data: binary and sparse files, texts filed under two classes, broken CSV columns."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from tasklab.core.config import DataConfig
from tasklab.data import load_dataset
from tasklab.edge.edge_inputs import MAX_TEXT_BYTES, EdgeInputError, read_text
from tests.hostile.harness import (
    TASKLAB,
    TENSORFLOW_ADDRESS_SPACE,
    assert_refused,
    capped,
    cli,
    quick_config,
)

WORDS = {"sport": "goal match team ball score", "tech": "code chip data cloud robot"}


def text_folder(root: Path, per_class: int = 8) -> Path:
    """Two classes of short texts, each text distinct."""
    for label, words in WORDS.items():
        (root / label).mkdir(parents=True, exist_ok=True)
        for index in range(per_class):
            (root / label / f"{index}.txt").write_text(f"{words} number {index}\n")
    return root


def text_config(tmp_path: Path, uri: str, extra: str = "") -> Path:
    data_yaml = f"uri: '{uri}', val_fraction: 0.25, test_fraction: 0.25{extra}"
    return quick_config(tmp_path, "texts", "text_classification", data_yaml)


def sparse(path: Path, size: int) -> Path:
    """A file of `size` bytes that takes no disk: what a crafted upload looks like."""
    with path.open("wb") as handle:
        handle.truncate(size)
    return path


FOLDER_DAMAGES = {
    # name: (damage to the folder, words the error must name)
    "binary_file": (
        lambda root: (root / "sport" / "0.txt").write_bytes(b"\x89PNG\r\n\x1a\n\0\0"),
        ("0.txt", "NUL bytes", "skip_corrupt"),
    ),
    "empty_class_folder": (
        lambda root: (root / "food").mkdir(),
        ("food", "no", ".txt files"),
    ),
    "class_of_empty_texts": (
        lambda root: [(root / "food").mkdir(), (root / "food" / "a.txt").write_text("  \n")],
        ("food", "no texts left"),
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(FOLDER_DAMAGES))
def test_a_damaged_text_folder_is_one_error_line(case, tmp_path, capfd, earlier_run):
    root = text_folder(tmp_path / "texts")
    damage, words = FOLDER_DAMAGES[case]
    damage(root)
    config = text_config(tmp_path, f"folder:{root}")
    outcome = cli(capfd, "run", str(config), "--runs-dir", str(earlier_run.parent))
    assert_refused(outcome, *words)


def test_a_sparse_10_gb_text_file_is_refused_unread(tmp_path):
    root = text_folder(tmp_path / "texts")
    sparse(root / "tech" / "big.txt", 10 << 30)
    config = text_config(tmp_path, f"folder:{root}")
    command = [*TASKLAB, "run", str(config), "--runs-dir", str(tmp_path / "runs")]
    outcome = capped(command, tmp_path, TENSORFLOW_ADDRESS_SPACE)
    assert_refused(outcome, "big.txt", "10,737,418,240 bytes", "split it", "skip_corrupt")


def test_the_edge_runner_refuses_a_sparse_text_file_unread(tmp_path):
    with pytest.raises(EdgeInputError, match="more than a text example's"):
        read_text(sparse(tmp_path / "big.txt", MAX_TEXT_BYTES + 1))


def test_a_sparse_file_is_skipped_unread_with_skip_corrupt(tmp_path):
    root = text_folder(tmp_path / "texts")
    sparse(root / "tech" / "big.txt", MAX_TEXT_BYTES + 1)
    dataset = load_dataset(
        DataConfig(uri=f"folder:{root}", val_fraction=0.25, test_fraction=0.25, skip_corrupt=True),
        seed=0,
        kind="text",
    )
    assert any("Skipped 1 unreadable text file(s)" in note for note in dataset.notes)
    assert sum(dataset.split_sizes().values()) == 16


def test_identical_texts_are_kept_out_of_two_splits(tmp_path):
    root = text_folder(tmp_path / "texts")
    for index in range(3):  # The same text three times in one class...
        (root / "sport" / f"copy{index}.txt").write_text((root / "sport" / "0.txt").read_text())
    (root / "sport" / "mislabeled.txt").write_text((root / "tech" / "1.txt").read_text())
    dataset = load_dataset(
        DataConfig(uri=f"folder:{root}", val_fraction=0.25, test_fraction=0.25), 0, kind="text"
    )
    notes = " ".join(dataset.notes)
    assert "Dropped 3 repeat(s) of 1 text(s)" in notes and "sport/copy0.txt" in notes
    assert "Left out 1 text(s) filed under different classes" in notes
    assert "sport/mislabeled.txt, tech/1.txt" in notes
    # 16 texts + 4 copies, less the 3 extra copies and both texts of the contradicting pair.
    texts = [t for s in (dataset.train, dataset.val, dataset.test) for t in s.frame["text"]]
    assert len(texts) == len(set(texts)) == 15


def write_text_csv(path: Path, rows: list[list[str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["body", "topic"])
        writer.writerows(rows)
    return path


def text_rows() -> list[list[str]]:
    return [[f"{words} number {i}", label] for label, words in WORDS.items() for i in range(8)]


def csv_case(tmp_path, capfd, runs: Path, rows: list[list[str]], extra: str = ""):
    path = write_text_csv(tmp_path / "texts.csv", rows)
    config = text_config(tmp_path, f"csv:{path}", ", text: body, target: topic" + extra)
    return cli(capfd, "run", str(config), "--runs-dir", str(runs))


def test_a_missing_class_is_named_by_the_line_an_editor_shows(tmp_path, capfd, earlier_run):
    rows = text_rows()
    rows[0][0] = "a text\nover three\nlines"  # Quoted line breaks: rows after it shift by 2.
    rows[5][1] = ""
    outcome = csv_case(tmp_path, capfd, earlier_run.parent, rows)
    # Row 5 is the 7th record, starting on line 2 + 3 (row 0) + 4: line 9, not 7.
    assert_refused(outcome, "texts.csv", "topic", "lines 9")


def test_a_misnamed_text_column_lists_the_columns(tmp_path, capfd, earlier_run):
    outcome = csv_case(tmp_path, capfd, earlier_run.parent, text_rows(), extra=", text: bodyy")
    assert_refused(outcome, "data.text", "bodyy", "body")


def test_a_text_longer_than_the_field_limit_is_one_error_line(tmp_path, capfd, earlier_run):
    rows = text_rows()
    rows[2][0] = "word " * (MAX_TEXT_BYTES // 5 + 1)
    outcome = csv_case(tmp_path, capfd, earlier_run.parent, rows)
    assert_refused(outcome, "Line 4", "texts.csv", "field")


def test_a_long_text_under_the_limit_is_read(tmp_path):
    rows = text_rows()
    rows[2][0] = "word " * 100_000  # 500 KB: past the csv module's default field limit.
    path = write_text_csv(tmp_path / "texts.csv", rows)
    config = DataConfig(
        uri=f"csv:{path}", text="body", target="topic", val_fraction=0.25, test_fraction=0.25
    )
    dataset = load_dataset(config, 0, kind="text")
    assert sum(dataset.split_sizes().values()) == 16
