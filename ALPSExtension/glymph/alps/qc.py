"""The ALPS quality-control picture: a colour-FA slice through the ALPS ROIs with the spheres drawn.

The slice is the plane through the ROI centres spanned by the anatomical x (L-R) and y (A-P)
axes found by registration (or the scanner's axes without one), shown as Slicer shows axial
views: subject's right on the left of the picture, anterior at the top. Colours: red L-R,
green A-P, blue S-I. Projection ROIs should sit in blue, association ROIs in green.
"""

from __future__ import annotations

import os

import numpy as np

from glymph.alps.pipeline import AlpsResult
from glymph.alps.rois import LABELS
from glymph.dti.preprocess import Motion
from glymph.plotting import label_sides, pyplot

_ROI_COLOURS = {"proj_L": "#ffffff", "proj_R": "#ffffff", "assoc_L": "#ffff00", "assoc_R": "#ffff00"}


def _slice(
    colour_fa: np.ndarray,
    world_to_voxel: np.ndarray,
    centre: np.ndarray,
    ex: np.ndarray,
    ey: np.ndarray,
    a: np.ndarray,
    b: np.ndarray,
) -> np.ndarray:
    """Sample RGB at points centre + a ex + b ey; returns (len(b), len(a), 3)."""
    from scipy.ndimage import map_coordinates

    aa, bb = np.meshgrid(a, b)
    points = centre + aa[..., None] * ex + bb[..., None] * ey
    vox = points @ world_to_voxel[:3, :3].T + world_to_voxel[:3, 3]
    coords = np.moveaxis(vox, -1, 0)
    rgb = np.stack([map_coordinates(colour_fa[..., c], coords, order=1, mode="constant") for c in range(3)], axis=-1)
    return np.clip(rgb, 0.0, 1.0)


def _motion_plot(ax, motion: Motion) -> None:
    """Per-volume motion (``--motion-correct``): mean brain displacement (mm) and the rotations (degrees)."""
    rows = motion.table()
    volumes = [row["volume"] for row in rows]
    ax.plot(volumes, motion.displacement_mm, "k.-", lw=1.2, label="displacement (mm)")
    for axis, colour in zip("xyz", ("tab:red", "tab:green", "tab:blue"), strict=True):
        ax.plot(
            volumes, [row[f"rotation_{axis}_deg"] for row in rows], color=colour, lw=0.9, label=f"rotation {axis} (°)"
        )
    ax.axhline(0, color="0.6", lw=0.5)
    ax.tick_params(labelsize=7)
    ax.legend(fontsize=6, ncol=4, loc="upper left", frameon=False)
    ax.set_title("motion correction: each volume (x axis) against the b0 reference", fontsize=8)


def alps_qc_figure(result: AlpsResult, path: str | os.PathLike) -> None:
    """Write the ALPS QC picture (PNG): full slice, zoom on the ROIs, and the values."""
    from matplotlib.patches import Circle

    plt = pyplot()

    dti = result.dti
    axes = result.registration.transform.rotation if result.registration else np.eye(3)
    ex, ey, ez = axes[:, 0], axes[:, 1], axes[:, 2]
    centres = result.rois.array()
    centre = centres.mean(axis=0)
    rgb = np.clip(dti.fit.colour_fa() / 0.7, 0, 1)  # FA 0.7 is full brightness
    inverse = np.linalg.inv(dti.affine)
    step_mm = 0.5

    fig, panels = plt.subplots(1, 2, figsize=(14, 6.4), gridspec_kw={"width_ratios": [1, 1.9]})
    views = (((-92, 92), (-100, 88)), ((-56, 56), (-30, 30)))
    for panel, ((a0, a1), (b0, b1)) in zip(panels, views, strict=True):
        a = np.arange(a1, a0 - step_mm, -step_mm)  # decreasing: subject right on the left
        b = np.arange(b0, b1 + step_mm, step_mm)
        image = _slice(rgb, inverse, centre, ex, ey, a, b)
        panel.imshow(image, origin="lower", extent=(a[0], a[-1], b[0], b[-1]), interpolation="nearest")
        panel.set_xlim(a1, a0)
        panel.set_ylim(b0, b1)
        for label, point in zip(LABELS, centres, strict=True):
            d = point - centre
            u, v, w = d @ ex, d @ ey, d @ ez
            radius = result.rois.diameter_mm / 2
            cut = np.sqrt(max(radius**2 - w**2, 0.0))
            panel.add_patch(
                Circle(
                    (u, v),
                    cut if cut > 0 else radius,
                    fill=False,
                    lw=1.6,
                    color=_ROI_COLOURS[label],
                    ls="-" if cut > 0 else ":",
                )
            )
            if panel is panels[1]:
                panel.annotate(
                    label, (u, v + radius + 1.0), color=_ROI_COLOURS[label], ha="center", fontsize=10, weight="bold"
                )
        label_sides(panel, anterior=True)
    panels[0].add_patch(plt.Rectangle((-56, -30), 112, 60, fill=False, color="w", lw=0.8, ls="--"))

    index = result.index
    lines = [
        f"{result.subject}   ALPS  left {index.alps_L:.3f}   right {index.alps_R:.3f}   mean {index.alps:.3f}   ({index.frame} frame)",
        "ROI       n    Dxx        Dyy        Dzz        FA    aligned  disp  l2/l3   (mm²/s, degrees)",
    ]
    for label in LABELS:
        r = index.rois[label]
        lines.append(
            f"{label:<8}{r.n_voxels:>3}   {r.dxx:.3e}  {r.dyy:.3e}  {r.dzz:.3e}  {r.fa:.2f}  "
            f"{r.aligned_fraction:>6.0%}  {r.dispersion_deg:>4.0f}  {r.l2_l3:>5.2f}"
        )
    warnings = index.warnings()
    if warnings:
        lines.append(
            "ROI quality: " + "; ".join(warnings[:2]) + (f" (+{len(warnings) - 2} more)" if len(warnings) > 2 else "")
        )
    plane = "anatomical (registered) axial plane" if result.registration else "scanner axial plane"
    lines.append(
        f"colour FA, {plane} through the ROI centres; white: projection (should be blue), yellow: association (should be green)"
    )
    fig.text(0.01, 0.01, "\n".join(lines), family="monospace", fontsize=9, va="bottom")
    fig.subplots_adjust(left=0.01, right=0.99, top=0.99, bottom=0.25, wspace=0.03)
    if dti.motion is not None:
        _motion_plot(fig.add_axes((0.67, 0.08, 0.31, 0.12)), dti.motion)
    fig.savefig(str(path), dpi=100, facecolor="white")
    plt.close(fig)
