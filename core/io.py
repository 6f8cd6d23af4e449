"""Atomic artifact writes: write to a temporary file beside the target, then rename.

A reader (or a resumed run) never sees a half-written file: it sees the old
version or the new one. `os.replace` is atomic on POSIX within one filesystem,
which is why the temporary file lives in the target's own directory.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from tasklab.core.errors import UserError


class ArtifactWriteError(UserError, OSError):
    """An artifact could not be written (a full disk, no permission); the old one is intact."""


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yields a temporary path to write; on success it is renamed to `path`.

    The temporary name keeps the target's suffix, because some writers
    (Keras `model.save`) choose the format from it. On error the temporary
    file is removed and `path` is left as it was.

    Args:
        path: the final location of the artifact.

    Yields:
        The temporary path to write to.

    Raises:
        ArtifactWriteError: when writing fails with an OS error (e.g. no space
            left), naming the artifact.
    """
    path = Path(path)
    make_dir(path.parent)
    try:
        fd, tmp = tempfile.mkstemp(
            prefix=f".{path.stem}.", suffix=f".tmp{path.suffix}", dir=path.parent
        )
    except OSError as error:
        raise write_error(path, error) from error
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        # mkstemp creates the file private (0600); artifacts are meant to be shared.
        os.chmod(tmp_path, 0o644)
        os.replace(tmp_path, path)
    except ArtifactWriteError:
        raise
    except OSError as error:
        raise write_error(path, error) from error
    finally:
        tmp_path.unlink(missing_ok=True)


def make_dir(path: str | Path) -> Path:
    """Creates a directory for artifacts, with its parents (nothing if it exists).

    Returns:
        The directory.

    Raises:
        ArtifactWriteError: when it cannot be created (a file in the way, no
            permission, a full disk), naming what is in the way.
    """
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise write_error(path, error, directory=True) from error
    return path


def write_error(path: Path, error: OSError, directory: bool = False) -> ArtifactWriteError:
    """The error of a failed artifact write: which artifact, why, and that nothing was lost.

    Args:
        path: the file (or, with `directory`, the directory) that was being made.
        error: what the system said.
        directory: whether `path` is a directory, which a file at `path` blocks.
    """
    blocker = file_in_the_way(path if directory else path.parent)
    if blocker is not None:
        message = (
            f"Could not write {path}: '{blocker}' is a file, where a directory is needed. Move "
            "or remove it; the previous version of every artifact is intact, and the same "
            "command run again resumes."
        )
    else:
        message = (
            f"Could not write {path} ({error.strerror or error}). The previous version of it and "
            "every other artifact are intact; free space (or fix the permissions) and run the "
            "same command again to resume."
        )
    failed = ArtifactWriteError(message)
    failed.errno = error.errno
    return failed


def file_in_the_way(directory: Path) -> Path | None:
    """What blocks making `directory`: it or its nearest existing ancestor, if not a directory."""
    directory = Path(directory)
    for candidate in (directory, *directory.parents):
        if candidate.exists() or candidate.is_symlink():
            return None if candidate.is_dir() else candidate
    return None


def is_inside(path: str | Path, root: str | Path) -> bool:
    """Whether `path`, links resolved, lies inside the directory `root` (for untrusted names)."""
    return Path(path).resolve().is_relative_to(Path(root).resolve())


def write_text(path: str | Path, text: str) -> Path:
    """Atomically writes `text` (UTF-8) to `path`.

    Returns:
        The path written.
    """
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def write_bytes(path: str | Path, data: bytes) -> Path:
    """Atomically writes `data` to `path`.

    Returns:
        The path written.
    """
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def write_json(path: str | Path, obj: Any) -> Path:
    """Atomically writes `obj` as indented JSON.

    Returns:
        The path written.
    """
    return write_text(path, json.dumps(obj, indent=2, sort_keys=False, allow_nan=False) + "\n")


def replace_dir(staging: str | Path, final: str | Path) -> Path:
    """Swaps a finished directory in for `final`, so a reader never sees half of one.

    The old directory is renamed aside, the staging one renamed into place,
    then the old one removed; an interruption leaves either the old or the
    new directory at `final` (or, between the two renames, the old one aside).

    Returns:
        The final path.
    """
    staging, final = Path(staging), Path(final)
    previous = final.with_name(f".{final.name}.previous")
    shutil.rmtree(previous, ignore_errors=True)
    if final.exists():
        final.rename(previous)
    staging.rename(final)
    shutil.rmtree(previous, ignore_errors=True)
    return final


class ArtifactReadError(UserError, ValueError):
    """An artifact of a run directory is damaged: not JSON, too large, or lacking a key."""


# explain.json and export.json of big runs are a few MB; a run directory is read as untrusted.
MAX_JSON_BYTES = 256 << 20


def read_json(path: str | Path) -> Any:
    """Reads a JSON artifact (of bounded size; a damaged one is an error naming it).

    Raises:
        FileNotFoundError: naming the missing file.
        ArtifactReadError: when it is too large, not UTF-8 or not valid JSON.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"Expected the artifact '{path}', which does not exist.")
    size = path.stat().st_size
    if size > MAX_JSON_BYTES:
        raise damaged(path, f"{size:,} bytes, more than any artifact tasklab writes")
    try:
        return json.loads(path.read_bytes().decode("utf-8"))
    except UnicodeDecodeError as error:
        raise damaged(path, f"not UTF-8 at byte {error.start}") from None
    except json.JSONDecodeError as error:
        raise damaged(
            path, f"not valid JSON: {error.msg} at line {error.lineno}, column {error.colno}"
        ) from None
    except RecursionError:
        raise damaged(path, "nested too deeply to read") from None


def read_record(path: str | Path, required: Iterable[str]) -> dict[str, Any]:
    """Reads a JSON artifact that must be an object holding the `required` keys.

    Raises:
        ArtifactReadError: naming the file and the missing keys.
    """
    record = read_json(path)
    if not isinstance(record, dict):
        raise damaged(Path(path), f"a JSON {type(record).__name__}, not an object")
    missing = [key for key in required if key not in record]
    if missing:
        raise damaged(Path(path), f"without the key(s) {missing}")
    return record


def damaged(path: Path, problem: str) -> ArtifactReadError:
    """The error of a run artifact that cannot be used: which file, what is wrong, the fix."""
    return ArtifactReadError(
        f"'{path}' is {problem}: it was damaged, edited, or written by another tasklab version. "
        "Restore it, or run the config again with `tasklab run`."
    )


class DirectoryLock:
    """An exclusive lock on a directory while one process works in it.

    It is an advisory `flock` on `DIR/.lock`: the kernel releases it when the
    process ends, however it ends (kill -9 included), so a killed run can be
    resumed while a running one cannot be taken over by a second command.

    Args:
        directory: the directory to lock.
    """

    def __init__(self, directory: str | Path):
        self.path = Path(directory) / ".lock"
        self._file = None

    def acquire(self) -> bool:
        """Takes the lock if no other process holds it.

        Returns:
            Whether this process now holds it.
        """
        import fcntl

        handle = self.path.open("a")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:  # Another process holds it (BlockingIOError).
            handle.close()
            return False
        self._file = handle
        return True

    def release(self) -> None:
        """Gives the lock back (closing the file releases the flock)."""
        if self._file is not None:
            self._file.close()
            self._file = None
