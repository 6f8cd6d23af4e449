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
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pipelines.errors import UserError


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
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(
        prefix=f".{path.stem}.", suffix=f".tmp{path.suffix}", dir=path.parent
    )
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


def write_error(path: Path, error: OSError) -> ArtifactWriteError:
    """The error of a failed artifact write: which artifact, why, and that nothing was lost."""
    failed = ArtifactWriteError(
        f"Could not write {path} ({error.strerror or error}). The previous version of it and "
        "every other artifact are intact; free space (or fix the permissions) and run the same "
        "command again to resume."
    )
    failed.errno = error.errno
    return failed


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


def read_json(path: str | Path) -> Any:
    """Reads a JSON artifact.

    Raises:
        FileNotFoundError: naming the missing file.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"Expected the artifact '{path}', which does not exist.")
    return json.loads(path.read_text(encoding="utf-8"))


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
