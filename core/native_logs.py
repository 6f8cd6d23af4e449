"""Keeps the native libraries' start-up chatter off the terminal; everything else passes.

TensorFlow 2.21 writes its C++ log lines before absl logging is initialized,
so `TF_CPP_MIN_LOG_LEVEL` does not hide them: on a CPU machine every command
printed the oneDNN banner, "Could not find cuda drivers" twice and a `cuInit`
error, and the LiteRT converter prints lines such as `fully_quantize: 0, ...`
straight to the process's stderr. None of them is a problem the user can act
on. `filtered_stderr` routes file descriptor 2 through a pipe and drops the
lines that match `CHATTER`; any other line (a Python traceback, a real
TensorFlow error, a warning) reaches the terminal unchanged.

Set `TASKLAB_NATIVE_LOGS=1` to see every line.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import threading
from collections.abc import Iterator

SHOW_ALL_VARIABLE = "TASKLAB_NATIVE_LOGS"

# Each pattern is one kind of line seen on a CPU machine; anything else is kept.
# `tasklab launch` prefixes its workers' lines with `[worker N] `.
CHATTER = re.compile(
    r"(?:\[worker \d+\] )?(?:"
    + "|".join(
        [
            # absl's notice that precedes its first pre-initialization line.
            r"WARNING: All log messages before absl::InitializeLog\(\) is called are written to "
            r"STDERR",
            # C++ INFO and WARNING lines: `I0000 00:00:1796161839.361795 2478 port.cc:153] ...`.
            r"[IW]\d{4} [\d:.]+\s+\d+ \S+:\d+\] .*",
            # The CUDA probe failing on a machine without a GPU (an ERROR line, but expected).
            r"E\d{4} [\d:.]+\s+\d+ cuda_\w+\.cc:\d+\] failed call to cuInit: .*",
            # The CPU feature guard's second line ("rebuild TensorFlow with ...").
            r"To enable the following instructions: .* in other operations, rebuild TensorFlow "
            r"with the appropriate compiler flags\.",
            # The LiteRT converter and runtime.
            r"fully_quantize: \d+, inference_type: .*",
            r"INFO: Created TensorFlow Lite XNNPACK delegate for CPU\.",
            r"INFO: Initialized TensorFlow Lite runtime\.",
        ]
    )
    + ")"
)


def is_chatter(line: str) -> bool:
    """Whether a stderr line is native start-up chatter (without its line break)."""
    return CHATTER.fullmatch(line.rstrip("\r\n")) is not None


@contextlib.contextmanager
def filtered_stderr() -> Iterator[None]:
    """Drops native chatter from file descriptor 2 while the block runs.

    A thread copies every other line to the real stderr as it arrives. On
    exit the original descriptor is restored and the thread drains what is
    left, so no line is lost. Does nothing when `TASKLAB_NATIVE_LOGS` is set,
    or when stderr has no file descriptor (e.g. under a test's capture).
    """
    if os.environ.get(SHOW_ALL_VARIABLE) or not _has_fileno(sys.stderr):
        yield
        return
    sys.stderr.flush()
    original = os.dup(2)
    read_end, write_end = os.pipe()
    os.dup2(write_end, 2)
    os.close(write_end)
    pump = threading.Thread(target=_copy_lines, args=(read_end, original), daemon=True)
    pump.start()
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(original, 2)  # Closes the pipe's last write end: the pump reads to its end.
        pump.join(timeout=5)
        os.close(original)


def _copy_lines(read_end: int, destination: int) -> None:
    with os.fdopen(read_end, "rb") as source:
        for raw in source:
            if is_chatter(raw.decode("utf-8", errors="replace")):
                continue
            try:
                os.write(destination, raw)
            except OSError:  # The process is exiting and closed the real stderr.
                return


def _has_fileno(stream) -> bool:
    try:
        stream.fileno()
    except (AttributeError, OSError, ValueError):
        return False
    return True
