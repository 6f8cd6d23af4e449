"""Figures drawn from data, for the report and the stages: literal labels and PNG bytes.

Class and column names are data, so any string must draw: matplotlib reads a
pair of `$` as mathtext (`cost ($) / weight ($)` fails to parse at draw
time), and a 200-character name squeezes the plot to nothing.
"""

from __future__ import annotations

import io
from typing import Any

import matplotlib

matplotlib.use("Agg")  # Files only; never a window.
import matplotlib.pyplot as plt


def plot_label(text: Any, width: int = 40) -> str:
    """`text` with `$` escaped, cut to `width` characters (with an ellipsis)."""
    text = str(text).replace("$", r"\$")
    return text if len(text) <= width else text[: width - 1] + "…"


def figure_png(figure: plt.Figure) -> bytes:
    """Renders a figure as PNG bytes (tight layout, 100 dpi) and closes it."""
    buffer = io.BytesIO()
    figure.tight_layout()
    figure.savefig(buffer, format="png", dpi=100)
    plt.close(figure)
    return buffer.getvalue()
