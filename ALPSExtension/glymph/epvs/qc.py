"""The EPVS quality-control picture: axial T1 slices through the basal ganglia and the centrum
semiovale with the lesions and region borders drawn (subject's right on the left)."""

from __future__ import annotations

import os

import numpy as np

from glymph.epvs.pipeline import EPVSResult
from glymph.plotting import label_sides, pyplot
from glymph.volume import reoriented


def epvs_qc_figure(result: EPVSResult, path: str | os.PathLike) -> None:
    """Axial T1 slices through the basal ganglia and the centrum semiovale, EPVS outlined in red,
    region borders in yellow (basal ganglia) and cyan (centrum semiovale); subject's right on the left."""
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
        label_sides(panel)
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
