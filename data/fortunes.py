"""The Debian `fortunes` corpora as labelled texts: by language, or (English) by topic file.

Layout (`/usr/share/games/fortunes`): English topic files at the top level,
one folder per other language (`de`, `es`, `it`, `cs`, `ru`, `pl`, ...),
`off/` for the offensive English fortunes (left out), `*.dat` index files
(binary, skipped) and `*.u8` links to the UTF-8 version of a file. Entries
are separated by lines holding a single `%`.

The files are not all UTF-8: a file that is not decodes with its language's
legacy code page (Latin-1 for western languages, Windows-1250 for Czech and
Polish, KOI8-R for Russian), and the notes count such files. Empty and
duplicate entries are dropped and counted too. This module only reads the
corpus; `builtin:fortunes_lang` and `builtin:fortunes_topics` build on it.
"""

from __future__ import annotations

import collections
import dataclasses
import re
from pathlib import Path

FORTUNES_ROOT = Path("/usr/share/games/fortunes")
ENGLISH = "en"
# Folders that are not a language of their own.
_ALIASES = {"cz": "cs"}  # An older name of the Czech folder, with the same files.
_SKIPPED_FOLDERS = {"off"}  # Offensive English fortunes.
_LEGACY_CODECS = {"cs": "cp1250", "pl": "cp1250", "sk": "cp1250", "ru": "koi8_r"}
_DEFAULT_LEGACY_CODEC = "latin_1"
_SEPARATOR = re.compile(r"^%\s*$", re.MULTILINE)
LANGUAGE_NAMES = {
    "en": "English",
    "de": "German",
    "es": "Spanish",
    "it": "Italian",
    "cs": "Czech",
    "ru": "Russian",
    "pl": "Polish",
    "sk": "Slovak",
    "fr": "French",
}


@dataclasses.dataclass(frozen=True)
class Fortune:
    """One entry of the corpus.

    Attributes:
        text: the entry, stripped, with Unix line ends.
        language: ISO 639-1 code of its folder (`en` for the top level).
        topic: the name of the file it comes from.
    """

    text: str
    language: str
    topic: str


@dataclasses.dataclass(frozen=True)
class Corpus:
    """The entries read, and what was dropped or repaired on the way.

    Attributes:
        fortunes: the kept entries, in file order.
        empty: entries with no text, dropped.
        duplicates: entries whose text appeared before, dropped (the first is kept).
        legacy_decoded: files that were not UTF-8 and were decoded with a legacy code page.
        files: files read.
    """

    fortunes: tuple[Fortune, ...]
    empty: int
    duplicates: int
    legacy_decoded: tuple[str, ...]
    files: int

    def notes(self) -> list[str]:
        """What a run reports about the corpus, a sentence each."""
        notes = [
            f"Read {len(self.fortunes)} fortunes from {self.files} files; dropped "
            f"{self.empty} empty and {self.duplicates} duplicate entries."
        ]
        if self.legacy_decoded:
            notes.append(
                f"{len(self.legacy_decoded)} file(s) were not UTF-8 and were decoded with their "
                f"language's legacy code page: {', '.join(self.legacy_decoded)}."
            )
        return notes

    def counts(self, by: str) -> dict[str, int]:
        """Entries per `language` or per `topic`."""
        return dict(collections.Counter(getattr(fortune, by) for fortune in self.fortunes))


def split_entries(text: str) -> list[str]:
    """The entries of one fortune file's text, stripped (empty ones kept, as '')."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return [entry.strip() for entry in _SEPARATOR.split(text)]


def decode(data: bytes, language: str) -> tuple[str, bool]:
    """Decodes a file: UTF-8, else the language's legacy code page.

    Returns:
        The text, and whether the legacy code page was needed.
    """
    try:
        return data.decode("utf-8"), False
    except UnicodeDecodeError:
        codec = _LEGACY_CODECS.get(language, _DEFAULT_LEGACY_CODEC)
        return data.decode(codec, errors="replace"), True


def corpus_files(root: Path) -> list[tuple[Path, str, str]]:
    """Every fortune file under `root` once, with its language and topic.

    Skips index files (`.dat`), `.u8` links and other links to files already
    listed (a file is read once, whatever its names), offensive fortunes,
    and empty files.

    Returns:
        `(path, language, topic)` sorted by language, then topic.
    """
    found: dict[Path, tuple[Path, str, str]] = {}
    for folder, language in _language_folders(root):
        for path in sorted(folder.iterdir()):
            if not path.is_file() or path.suffix in (".dat", ".u8") or path.stat().st_size == 0:
                continue
            real = path.resolve()
            if language == ENGLISH and real.parent != root.resolve():
                continue  # A top-level link into a language folder (the Italian files are).
            found.setdefault(real, (path, language, path.name.removesuffix(".fortunes")))
    return sorted(found.values(), key=lambda item: (item[1], item[2]))


def _language_folders(root: Path) -> list[tuple[Path, str]]:
    folders = [(root, ENGLISH)]
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        if folder.name in _SKIPPED_FOLDERS:
            continue
        folders.append((folder, _ALIASES.get(folder.name, folder.name)))
    return folders


def read_corpus(root: str | Path = FORTUNES_ROOT) -> Corpus:
    """Reads every fortune file under `root`.

    Args:
        root: the corpus folder (Debian installs it at `/usr/share/games/fortunes`).

    Returns:
        The entries with their language and topic, and the counts of what was dropped.

    Raises:
        FileNotFoundError: when the corpus is not installed, naming the packages to install.
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(
            f"The fortunes corpus is not installed at {root}. Install it with `make install` "
            "(or: apt-get install fortunes fortunes-de fortunes-es fortunes-it fortunes-cs "
            "fortunes-ru fortunes-pl)."
        )
    fortunes, seen, legacy = [], set(), []
    empty = duplicates = 0
    files = corpus_files(root)
    for path, language, topic in files:
        text, used_legacy = decode(path.read_bytes(), language)
        if used_legacy:
            legacy.append(str(path.relative_to(root)))
        for entry in split_entries(text):
            if not entry:
                empty += 1
            elif entry in seen:
                duplicates += 1
            else:
                seen.add(entry)
                fortunes.append(Fortune(entry, language, topic))
    return Corpus(tuple(fortunes), empty, duplicates, tuple(legacy), len(files))
