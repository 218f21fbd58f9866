"""Quality-control pictures: a colour-FA slice through the ALPS ROIs with the spheres drawn.

The slice is the plane through the ROI centres spanned by the anatomical x (L-R) and y (A-P)
axes found by registration (or the scanner's axes without one), shown as Slicer shows axial
views: subject's right on the left of the picture, anterior at the top. Colours: red L-R,
green A-P, blue S-I. Projection ROIs should sit in blue, association ROIs in green.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import numpy as np

from glymph.rois import LABELS

if TYPE_CHECKING:
    from glymph.pipeline import AlpsResult


def pyplot():
    """``matplotlib.pyplot`` on the file-only Agg backend (no display: clusters, headless Slicer)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _label_sides(ax, anterior: bool = False) -> None:
    """Mark the subject's right (left edge) and left (right edge), optionally anterior (top); no ticks."""
    style = {"transform": ax.transAxes, "color": "w", "fontsize": 14, "weight": "bold"}
    ax.text(0.01, 0.5, "R", va="center", **style)
    ax.text(0.97, 0.5, "L", va="center", **style)
    if anterior:
        ax.text(0.5, 0.97, "A", ha="center", va="top", **style)
    ax.set_xticks([])
    ax.set_yticks([])


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
        _label_sides(panel, anterior=True)
    panels[0].add_patch(plt.Rectangle((-56, -30), 112, 60, fill=False, color="w", lw=0.8, ls="--"))

    index = result.index
    lines = [
        f"{result.subject}   ALPS  left {index.alps_L:.3f}   right {index.alps_R:.3f}   mean {index.alps:.3f}   ({index.frame} frame)",
        "ROI       n    Dxx        Dyy        Dzz        FA     (mm²/s)",
    ]
    for label in LABELS:
        r = index.rois[label]
        lines.append(f"{label:<8}{r.n_voxels:>3}   {r.dxx:.3e}  {r.dyy:.3e}  {r.dzz:.3e}  {r.fa:.2f}")
    plane = "anatomical (registered) axial plane" if result.registration else "scanner axial plane"
    lines.append(
        f"colour FA, {plane} through the ROI centres; white: projection (should be blue), yellow: association (should be green)"
    )
    fig.text(0.01, 0.01, "\n".join(lines), family="monospace", fontsize=9, va="bottom")
    fig.subplots_adjust(left=0.01, right=0.99, top=0.99, bottom=0.22, wspace=0.03)
    fig.savefig(str(path), dpi=100, facecolor="white")
    plt.close(fig)


def epvs_qc_figure(result, path: str | os.PathLike) -> None:
    """Axial T1 slices through the basal ganglia and the centrum semiovale, EPVS outlined in red,
    region borders in yellow (basal ganglia) and cyan (centrum semiovale); subject's right on the left."""
    from glymph.volume import reoriented

    plt = pyplot()

    t1 = reoriented(result.grid_t1, "RAS")
    labels = reoriented(result.grid_t1.with_data(result.labels > 0), "RAS").data
    regions = reoriented(result.grid_t1.with_data(result.regions), "RAS").data
    levels = {"basal ganglia": np.array([0.0, 2.0, 4.0]), "centrum semiovale": np.array([0.0, -20.0, 40.0])}
    summary = result.summary()
    fig, panels = plt.subplots(1, 2, figsize=(12, 6.6))
    for panel, (name, template_point) in zip(panels, levels.items(), strict=True):
        k = int(
            np.clip(
                round(t1.world_to_voxel(result.registration.transform.to_subject(template_point))[2]),
                0,
                t1.shape[2] - 1,
            )
        )
        image = t1.data[:, :, k].T
        panel.imshow(image[:, ::-1], cmap="gray", origin="lower", vmin=0, vmax=np.percentile(image, 99.5))
        for mask, colour, width in (
            (regions[:, :, k] == 1, "yellow", 0.8),
            (regions[:, :, k] == 2, "cyan", 0.8),
            (labels[:, :, k], "red", 1.2),
        ):
            if mask.any():
                panel.contour(mask.T[:, ::-1].astype(float), [0.5], colors=colour, linewidths=width)
        panel.set_title(f"{name} (slice {k})")
        _label_sides(panel)
    fig.text(
        0.01,
        0.01,
        f"{result.subject}: {summary['count']} EPVS, {summary['total_volume_mm3']:.0f} mm3 "
        f"(basal ganglia {summary['count_bg']} / {summary['volume_bg_mm3']:.0f} mm3, centrum semiovale "
        f"{summary['count_cso']} / {summary['volume_cso_mm3']:.0f} mm3, midbrain {summary['count_midbrain']}); "
        f"method {result.method}, components < {result.min_length_mm:g} mm removed ({result.n_short_removed}). "
        "Red: EPVS; yellow: basal ganglia; cyan: centrum semiovale.",
        fontsize=8.5,
        wrap=True,
    )
    fig.subplots_adjust(left=0.01, right=0.99, top=0.95, bottom=0.08, wspace=0.03)
    fig.savefig(str(path), dpi=100, facecolor="white")
    plt.close(fig)


def vein_qc_figure(result, path: str | os.PathLike) -> None:
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
    _label_sides(ax)
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
