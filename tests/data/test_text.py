"""Text sources: folders of .txt files, CSV columns and the fortunes built-ins, and bad input."""

from __future__ import annotations

import numpy as np
import pytest

from tasklab.core.config import ConfigError, DataConfig, TokenizerConfig
from tasklab.data import DataError, load_dataset
from tasklab.data.text import TEXT_COLUMN, clean_texts

WORDS = {
    "sport": "goal match team ball score",
    "tech": "code chip data cloud robot",
    "food": "bread soup cake apple rice",
}


def make_texts(per_class: int = 12, seed: int = 0) -> dict[str, list[str]]:
    """Short texts whose words give away their class."""
    rng = np.random.default_rng(seed)
    return {
        label: [" ".join(rng.choice(words.split(), size=6)) + f" n{i}" for i in range(per_class)]
        for label, words in WORDS.items()
    }


def write_folder(root, texts: dict[str, list[str]]):
    for label, items in texts.items():
        (root / label).mkdir(parents=True, exist_ok=True)
        for i, text in enumerate(items):
            (root / label / f"{i:03d}.txt").write_text(text, encoding="utf-8")
    return root


def load_text(uri: str, **options):
    return load_dataset(DataConfig(uri=uri, **options), 0, kind="text")


def split_texts(split) -> list[str]:
    return split.frame[TEXT_COLUMN].tolist()


def test_folder_of_txt_files_splits_and_adapts_the_vocabulary_on_train_only(tmp_path):
    texts = make_texts()
    texts["food"].append("zucchini only in one text")
    dataset = load_text(f"folder:{write_folder(tmp_path / 'd', texts)}")
    assert dataset.spec.kind == "text" and dataset.spec.class_names == ("food", "sport", "tech")
    assert dataset.split_sizes() == {"train": 26, "val": 4, "test": 7}
    vocabulary = set(dataset.spec.schema.vocabulary)
    train_words = {word for text in split_texts(dataset.train) for word in text.split()}
    held_out = {
        word for s in (dataset.val, dataset.test) for t in split_texts(s) for word in t.split()
    }
    assert vocabulary - {"", "[UNK]"} <= train_words
    assert ("zucchini" in vocabulary) == ("zucchini" in train_words)
    assert held_out - train_words, "the test needs a word seen only outside train"
    assert not (held_out - train_words) & vocabulary
    text, label = next(dataset.train.make_dataset().as_numpy_iterator())
    assert isinstance(text, bytes) and label == dataset.train.labels[0]


def test_folder_notes_non_utf8_files_and_refuses_binary_ones(tmp_path):
    root = write_folder(tmp_path / "d", make_texts())
    (root / "tech" / "latin1.txt").write_bytes("caf\xe9 data robot".encode("latin-1"))
    (root / "tech" / "notes.md").write_text("not a text file of the dataset")
    (root / "food" / "blob.txt").write_bytes(b"\x00\x01binary")
    with pytest.raises(
        DataError, match=r"cannot be used as texts: .*food/blob.txt' holds NUL bytes.*skip_corrupt"
    ):
        load_text(f"folder:{root}")
    dataset = load_text(f"folder:{root}", skip_corrupt=True)
    notes = " ".join(dataset.notes)
    assert "Skipped 1 unreadable text file(s): " in notes and "blob.txt' holds NUL" in notes
    assert "1 file(s) were not valid UTF-8" in notes and "tech/latin1.txt" in notes
    assert "Ignored 1 file(s)" in notes
    everything = [t for s in (dataset.train, dataset.val, dataset.test) for t in split_texts(s)]
    assert "caf\ufffd data robot" in everything


def test_empty_and_repeated_texts_are_dropped_counted_and_named(tmp_path):
    texts = make_texts()
    texts["sport"] += ["", "   \n", texts["sport"][0]]
    texts["tech"].append(texts["sport"][1])  # The same text with another label.
    dataset = load_text(f"folder:{write_folder(tmp_path / 'd', texts)}")
    notes = " ".join(dataset.notes)
    assert "Dropped 2 empty text(s): sport/012.txt, sport/013.txt." in notes
    assert "Dropped 1 repeat(s) of 1 text(s)" in notes and "sport/014.txt" in notes
    assert "Left out 1 text(s) filed under different classes (2 copies" in notes
    assert "sport/001.txt, tech/012.txt" in notes
    # Neither copy of the contradicting text is kept: 36 texts less sport/001.txt.
    everything = [t for s in (dataset.train, dataset.val, dataset.test) for t in split_texts(s)]
    assert len(everything) == len(set(everything)) == 35
    assert texts["sport"][1] not in everything


def test_clean_texts_keeps_the_first_of_repeats_and_none_of_a_contradiction():
    kept, labels, notes = clean_texts(
        [" a ", "b", "a", None, "c", "c "], ["x", "y", "x", "x", "y", "x"], list("012345")
    )
    assert kept == ["a", "b"] and labels == ["x", "y"]
    assert notes == [
        "Dropped 1 empty text(s): 3.",
        "Dropped 1 repeat(s) of 1 text(s) (the first is kept, so no text is in two splits): 2.",
        "Left out 1 text(s) filed under different classes (2 copies; their labels contradict): "
        "4, 5.",
    ]


def test_a_csv_names_dropped_texts_by_the_file_line_they_start_on(tmp_path):
    rows = csv_rows()
    rows.insert(1, ["two\nlines", "tech", 98])  # A quoted line break: the rows after shift.
    rows.append([rows[0][0], "tech", 99])  # Line 40 repeats line 2 under another class.
    dataset = load_text(f"csv:{write_csv(tmp_path / 't.csv', rows)}", text="body", target="topic")
    assert any(
        "different classes" in note and ": line 2, line 40." in note for note in dataset.notes
    )


def test_a_class_with_too_few_texts_is_named(tmp_path):
    texts = make_texts()
    texts["food"] = texts["food"][:2]
    with pytest.raises(DataError, match=r"at least 3 examples.*'food' \(2\)"):
        load_text(f"folder:{write_folder(tmp_path / 'd', texts)}")


def test_a_class_folder_of_empty_texts_is_an_error(tmp_path):
    texts = make_texts()
    texts["food"] = ["", " "]
    with pytest.raises(DataError, match=r"\['food'\].*no texts left once empty texts"):
        load_text(f"folder:{write_folder(tmp_path / 'd', texts)}")


def test_long_texts_are_truncated_with_a_count(tmp_path):
    texts = make_texts()
    texts["tech"][0] = " ".join(["robot"] * 50)
    dataset = load_text(
        f"folder:{write_folder(tmp_path / 'd', texts)}",
        tokenizer=TokenizerConfig(sequence_length=10),
    )
    assert any(
        "1 of 36 texts (2.8%) have more than data.tokenizer.sequence_length=10 tokens "
        "(longest: 50)" in note
        for note in dataset.notes
    )


def write_csv(path, rows):
    import csv

    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["body", "topic", "id"])
        writer.writerows(rows)
    return path


def csv_rows():
    return [
        [text, label, i] for i, (label, items) in enumerate(make_texts().items()) for text in items
    ]


def test_csv_text_and_target_columns(tmp_path):
    rows = [*csv_rows(), ["", "tech", 99]]
    path = write_csv(tmp_path / "t.csv", rows)
    dataset = load_text(f"csv:{path}", text="body", target="topic")
    assert dataset.spec.class_names == ("food", "sport", "tech")
    assert sum(dataset.split_sizes().values()) == 36
    assert "Dropped 1 empty text(s): line 38." in dataset.notes
    # Cross-validation folds refit the vocabulary on their own train part.
    fold = dataset.resplit(np.arange(0, 30), np.arange(30, 33), np.arange(33, 36))
    assert fold.split_sizes() == {"train": 30, "val": 3, "test": 3}


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"text": "bdy", "target": "topic"}, r"data.text: .*no column 'bdy'.*Did you mean 'body'"),
        ({"text": "body", "target": "label"}, r"data.target: .*no column 'label'"),
        ({"text": "body"}, r"needs data.text .* and data.target"),
    ],
)
def test_csv_without_the_named_column_says_which(tmp_path, options, message):
    path = write_csv(tmp_path / "t.csv", csv_rows())
    with pytest.raises(DataError, match=message):
        load_text(f"csv:{path}", **options)


def test_csv_rows_without_a_class_are_named(tmp_path):
    rows = csv_rows()
    rows[3][1] = ""
    path = write_csv(tmp_path / "t.csv", rows)
    with pytest.raises(
        DataError, match=r"1 row\(s\) .* no value in the target column 'topic' \(lines 5\)"
    ):
        load_text(f"csv:{path}", text="body", target="topic")


def test_fortunes_lang_has_every_installed_language():
    dataset = load_text("builtin:fortunes_lang", tokenizer=TokenizerConfig(mode="char", ngrams=2))
    names = set(dataset.spec.class_names)
    assert {"English", "German", "Spanish", "Italian", "Czech", "Russian", "Polish"} <= names
    assert sum(dataset.split_sizes().values()) > 80_000
    assert any("dropped" in note and "duplicate" in note for note in dataset.notes)
    assert "\u0430" in dataset.spec.schema.vocabulary  # Cyrillic a, from the Russian files.


def test_fortunes_topics_keeps_the_large_english_topics():
    dataset = load_text("builtin:fortunes_topics")
    assert len(dataset.spec.class_names) == 16 and "people" in dataset.spec.class_names
    assert min(np.bincount(dataset.pool_labels)) >= 400
    assert any("left out" in note and "magic" in note for note in dataset.notes)


def test_a_text_builtin_for_an_image_task_is_refused():
    with pytest.raises(ConfigError, match="holds text data, but the task takes image data"):
        load_dataset(DataConfig(uri="builtin:fortunes_lang"), 0, kind="image")
