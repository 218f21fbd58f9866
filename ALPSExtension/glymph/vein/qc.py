"""The vein quality-control picture: the MinIP with each vein coloured and numbered, and the mid-line."""

from __future__ import annotations

import os

import numpy as np

from glymph.plotting import label_sides, pyplot
from glymph.vein.pipeline import VeinResult


def vein_qc_figure(result: VeinResult, path: str | os.PathLike) -> None:
    """The MinIP (subject's right on the left) with each vein coloured and numbered, and the mid-line."""
    plt = pyplot()
    minip = result.minip.data[:, :, 0]
    a = result.plane_affine
    shape = minip.shape
    # display extent in RAS mm, flipped so that +x (subject right) is on the left
    x0, y0 = a[:2, 2] - np.diag(a[:2, :2]) / 2
    x1, y1 = x0 + shape[0] * a[0, 0], y0 + shape[1] * a[1, 1]
    fig, ax = plt.subplots(figsize=(8, 8.6))
    brain_values = minip[result.brain]
    ax.imshow(
        minip.T,
        cmap="gray",
        origin="lower",
        extent=(x0, x1, y0, y1),
        vmin=0,
        vmax=np.percentile(brain_values, 99.5) if brain_values.size else None,
    )
    colours = plt.get_cmap("tab20")
    overlay = np.zeros((*shape, 4))
    for vein in result.veins:
        overlay[result.labels == vein.id] = colours(vein.id % 20)
    overlay[..., 3] *= 0.85
    ax.imshow(overlay.transpose(1, 0, 2), origin="lower", extent=(x0, x1, y0, y1))
    for vein in result.veins:
        ax.annotate(str(vein.id), vein.centroid, color="yellow", fontsize=9, weight="bold", ha="center", va="center")
    p, d = np.array(result.midline.point), np.array(result.midline.direction)
    ends = np.array([p - 150 * d, p + 150 * d])
    ax.plot(ends[:, 0], ends[:, 1], color="cyan", lw=1, ls="--")
    ax.set_xlim(x1, x0)
    ax.set_ylim(y0, y1)
    label_sides(ax)
    rows = {row["hemisphere"]: row for row in result.hemisphere_rows()}
    ax.set_title(
        f"{result.subject}: MinIP {result.slab_mm:g} mm at z = {result.level_z_mm:.1f} mm ({result.level_reason})\n"
        + "   ".join(
            f"{h}: {rows[h]['count']} veins, diameter {rows[h]['diameter_mm']:.2f} mm, tortuosity {rows[h]['tortuosity']:.3f}"
            for h in ("right", "left")
        ),
        fontsize=9,
    )
    fig.tight_layout()
    fig.savefig(str(path), dpi=100, facecolor="white")
    plt.close(fig)
