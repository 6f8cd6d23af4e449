"""The base of every error a user can fix, importable without TensorFlow.

The CLI prints such an error as one `error:` line and exits with status 2;
catching this base lets it do so before (or without) importing TensorFlow.
"""

from __future__ import annotations


class UserError(Exception):
    """An error the user can fix: its message names the problem and the fix."""


class ConfigError(UserError, ValueError):
    """A configuration value is missing, unknown or of the wrong type."""


def name_some(items: list[str], limit: int = 10) -> str:
    """Up to `limit` items, comma-separated, and how many more there are.

    An error names what is wrong, but a line listing a thousand classes is
    unreadable (and was 7 KB): the first few show the pattern, the count the scale.
    """
    named = ", ".join(items[:limit])
    more = len(items) - limit
    return named + (f" and {more:,} more" if more > 0 else "")
