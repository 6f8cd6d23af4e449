"""Progress of long work, as log lines with the time spent and an estimate of the time left.

Every stage that takes more than a few seconds (cross-validation folds, baseline fits,
explanations, export variants) reports through `Progress`, so the CLI and the Python API
(with logging configured) show the same lines:

    tasklab: Cross-validation Keras models: folds 1-5 of 10, epoch 12/40 (12/80, 31s, ~2m10s left)
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator


def format_duration(seconds: float) -> str:
    """A duration for people: `45s`, `3m07s`, `1h02m`."""
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


class Progress:
    """Counts units of work done out of a total and logs how far along it is.

    The estimate of the time left is the average time per unit so far times the
    units left: rough at first, better as the work goes on.

    Args:
        what: names the work at the start of each line.
        total: the units of work (epochs, fits, examples, variants).
        logger: where the lines go (at INFO).
        min_interval: the fewest seconds between two lines (the first comes after as
            long); the last unit always logs, so work that ends sooner logs once.
    """

    def __init__(self, what: str, total: float, logger: logging.Logger, min_interval: float = 5.0):
        self.what = what
        self.total = total
        self.logger = logger
        self.min_interval = min_interval
        self.done = 0.0
        self.started = time.perf_counter()
        self._last_line = self.started

    def advance(self, detail: str = "", units: float = 1.0) -> None:
        """Counts `units` more done and logs (at most every `min_interval` seconds)."""
        self.update(self.done + units, detail)

    def update(self, done: float, detail: str = "") -> None:
        """Sets the units done so far and logs (at most every `min_interval` seconds)."""
        self.done = min(done, self.total)
        now = time.perf_counter()
        if now - self._last_line < self.min_interval and self.done < self.total:
            return
        self._last_line = now
        self.logger.info("%s: %s", self.what, self.line(detail, now - self.started))

    def line(self, detail: str, elapsed: float) -> str:
        """`detail (done/total, elapsed, ~left)`, the text after the name of the work."""
        count = f"{self.done:g}/{self.total:g}"
        if self.done >= self.total:
            timing = f"done in {format_duration(elapsed)}"
        elif self.done > 0:
            left = elapsed / self.done * (self.total - self.done)
            timing = f"{format_duration(elapsed)}, ~{format_duration(left)} left"
        else:
            timing = format_duration(elapsed)
        prefix = f"{detail} " if detail else ""
        return f"{prefix}({count}, {timing})"


# Every module logs a run's progress to `logging.getLogger(__name__)`, under this package.
PACKAGES = ("tasklab",)


@contextlib.contextmanager
def progress_logging(verbose: bool = True) -> Iterator[None]:
    """Shows a run's progress lines on stderr for the block, unless logging is configured.

    The CLI configures logging itself. A script that calls the Python API
    usually has not, and then Python shows warnings only: while the block runs
    the packages' INFO lines go to stderr as the CLI shows them. Handlers the
    caller set up are left alone (they receive the lines instead).

    Args:
        verbose: whether to show them at all.
    """
    if not verbose or logging.getLogger().handlers:
        yield
        return
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("tasklab: %(message)s"))
    loggers = [logging.getLogger(name) for name in PACKAGES]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.removeHandler(handler)
            logger.setLevel(level)
