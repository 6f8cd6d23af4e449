"""The base of every error a user can fix, importable without TensorFlow.

The CLI prints such an error as one `error:` line and exits with status 2;
catching this base lets it do so before (or without) importing TensorFlow.
"""

from __future__ import annotations


class UserError(Exception):
    """An error the user can fix: its message names the problem and the fix."""
