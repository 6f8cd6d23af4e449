"""Names from the data (classes, columns) as matplotlib labels: literal and short.

Class and column names are data, so any string must draw: matplotlib reads a
pair of `$` as mathtext (`cost ($) / weight ($)` fails to parse at draw
time), and a 200-character name squeezes the plot to nothing.
"""

from __future__ import annotations

from typing import Any


def plot_label(text: Any, width: int = 40) -> str:
    """`text` with `$` escaped, cut to `width` characters (with an ellipsis)."""
    text = str(text).replace("$", r"\$")
    return text if len(text) <= width else text[: width - 1] + "…"
