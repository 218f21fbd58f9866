"""What every figure glymph draws shares: a file-only matplotlib, and the radiological side labels."""

from __future__ import annotations


def pyplot():
    """``matplotlib.pyplot`` on the file-only Agg backend (no display: clusters, headless Slicer)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def label_sides(ax, anterior: bool = False) -> None:
    """Mark the subject's right (left edge) and left (right edge), optionally anterior (top); no ticks."""
    style = {"transform": ax.transAxes, "color": "w", "fontsize": 14, "weight": "bold"}
    ax.text(0.01, 0.5, "R", va="center", **style)
    ax.text(0.97, 0.5, "L", va="center", **style)
    if anterior:
        ax.text(0.5, 0.97, "A", ha="center", va="top", **style)
    ax.set_xticks([])
    ax.set_yticks([])
