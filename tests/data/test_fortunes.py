"""Reading the fortunes corpora: a corpus the test writes, then the one Debian installed."""

from __future__ import annotations

import pytest

from tasklab.data.fortunes import FORTUNES_ROOT, decode, read_corpus, split_entries


def write_corpus(root):
    """A small corpus with every oddity of the real one."""
    root.mkdir()
    (root / "wisdom").write_text("Know thyself.\n%\nLook before you leap.\n%\n%\n", "utf-8")
    (root / "wisdom.dat").write_bytes(b"\x00\x00\x00\x02binary index")
    (root / "wisdom.u8").symlink_to("wisdom")
    (root / "empty").write_bytes(b"")
    (root / "dos").write_bytes(b"First line\r\nsecond line\r\n%\r\nKnow thyself.\r\n%\r\n")
    (root / "de").mkdir()
    # Latin-1, as some older files are: not valid UTF-8.
    (root / "de" / "sprueche").write_bytes("Grüße aus München.\n%\nÄrger.\n".encode("latin_1"))
    (root / "it").mkdir()
    (root / "it" / "proverbi").write_text("Chi va piano va sano.\n", "utf-8")
    (root / "proverbi").symlink_to("it/proverbi")  # Italian files are linked at the top level.
    (root / "cz").mkdir()
    (root / "cs").mkdir()
    (root / "cs" / "citace").write_text("Kdo jinému jámu kopá.\n", "utf-8")
    (root / "cz" / "citace").symlink_to("../cs/citace")  # The same file under its old name.
    (root / "off").mkdir()
    (root / "off" / "rude").write_text("Something rude.\n", "utf-8")
    return root


def test_entries_are_split_on_percent_lines_with_any_line_ends():
    assert split_entries("a\nb\n%\nc\r\n%\r\n\n%\n") == ["a\nb", "c", "", ""]
    assert split_entries("100% sure\n%\nx") == ["100% sure", "x"]  # Only a line of its own.


def test_legacy_files_decode_with_their_languages_code_page():
    assert decode("Grüße".encode("latin_1"), "de") == ("Grüße", True)
    assert decode("Привет".encode("koi8_r"), "ru") == ("Привет", True)
    assert decode("Łódź".encode("cp1250"), "pl") == ("Łódź", True)
    assert decode("Łódź".encode(), "pl") == ("Łódź", False)


def test_corpus_reads_each_file_once_and_counts_what_it_drops(tmp_path):
    corpus = read_corpus(write_corpus(tmp_path / "fortunes"))
    texts = {(f.language, f.topic): [] for f in corpus.fortunes}
    for fortune in corpus.fortunes:
        texts[(fortune.language, fortune.topic)].append(fortune.text)
    assert texts == {
        ("cs", "citace"): ["Kdo jinému jámu kopá."],
        ("de", "sprueche"): ["Grüße aus München.", "Ärger."],
        ("en", "dos"): ["First line\nsecond line", "Know thyself."],
        ("en", "wisdom"): ["Look before you leap."],
        ("it", "proverbi"): ["Chi va piano va sano."],
    }
    # `dos` sorts before `wisdom`, so wisdom's "Know thyself." is the duplicate.
    assert (corpus.empty, corpus.duplicates, corpus.files) == (3, 1, 5)
    assert corpus.legacy_decoded == ("de/sprueche",)
    assert corpus.counts("language") == {"cs": 1, "de": 2, "en": 3, "it": 1}
    notes = " ".join(corpus.notes())
    assert "dropped 3 empty and 1 duplicate" in notes and "de/sprueche" in notes


def test_a_missing_corpus_names_the_packages_to_install(tmp_path):
    with pytest.raises(FileNotFoundError, match="apt-get install fortunes"):
        read_corpus(tmp_path / "nowhere")


def test_the_installed_corpus_has_every_language_the_task_needs():
    corpus = read_corpus(FORTUNES_ROOT)
    counts = corpus.counts("language")
    for language in ("en", "de", "es", "it", "cs", "ru", "pl"):
        assert counts.get(language, 0) >= 100, (language, counts)
    assert "off" not in counts and "cz" not in counts
    assert all(fortune.text and "\r" not in fortune.text for fortune in corpus.fortunes)
    assert len({fortune.text for fortune in corpus.fortunes}) == len(corpus.fortunes)
