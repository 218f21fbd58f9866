"""Superficial cerebral veins on SWI: MinIP, hemispheres, segmentation and morphometry.

Pipeline (after the SCV study): the SWI resliced to axial RAS; a brain mask (given, or dipy's
``median_otsu`` on a 2 mm copy, brought back to the SWI grid); the analysis level (the lateral
ventricle bodies' slice with the largest brain cross-section, or ``slab_center_mm``); the
brain-only MinIP over a ``slab_mm`` slab there (voxels outside the brain count as the brain's
median intensity, so skull and scalp veins never enter; the analysis region is the brain in any
slab slice); the mid-sagittal line from left-right symmetry; segmentation
(``method``); per-vein morphometry (``glymph.vein_morphometry``); per-hemisphere summaries.
A 2D MinIP (one slice) can be the input instead of the SWI: it is analysed as is.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from glymph.errors import GlymphError
from glymph.midline import Midline
from glymph.progress import step
from glymph.vein_morphometry import Vein
from glymph.volume import Volume, check_image, mask_on_grid

DEFAULT_SLAB_MM = 20.0
VEIN_FILES = (
    "vein.csv",
    "veins.csv",
    "minip.nii.gz",
    "minip_volume.nii.gz",
    "minip.png",
    "vein_seg.nii.gz",
    "vein.json",
    "qc_vein.png",
)
HEMISPHERES = ("left", "right")


def plane_affine(affine: np.ndarray) -> np.ndarray:
    """3x3 pixel (i, j) -> RAS (x, y) mm of the axial plane of a 4x4 voxel-to-RAS ``affine``."""
    a = affine
    return np.array([[a[0, 0], a[0, 1], a[0, 3]], [a[1, 0], a[1, 1], a[1, 3]], [0.0, 0.0, 1.0]])


@dataclass(frozen=True)
class VeinResult:
    subject: str
    minip: Volume  # the analysis MinIP as a one-slice volume on the axial RAS grid
    minip_volume: Volume | None  # the sliding MinIP of the whole SWI (None for a 2D input)
    labels: np.ndarray = field(repr=False)  # vein id per MinIP pixel
    brain: np.ndarray = field(repr=False)  # brain mask of the MinIP plane
    veins: list[Vein] = field(repr=False)
    midline: Midline = field(repr=False)
    level_z_mm: float
    level_reason: str
    slab_mm: float
    method: str

    @property
    def plane_affine(self) -> np.ndarray:
        """3x3 pixel (i, j) -> RAS (x, y) mm of the MinIP plane."""
        return plane_affine(self.minip.affine)

    def hemisphere_rows(self) -> list[dict[str, object]]:
        """One row per hemisphere: count, mean and median diameter and tortuosity."""

        def stat(values: list[float], how) -> float:
            return float(how(values)) if values else float("nan")

        rows = []
        for hemisphere in HEMISPHERES:
            side = [v for v in self.veins if v.hemisphere == hemisphere]
            diameters = [v.diameter_mm for v in side]
            tortuosities = [v.tortuosity for v in side]
            rows.append(
                {
                    "subject": self.subject,
                    "hemisphere": hemisphere,
                    "count": len(side),
                    "diameter_mm": stat(diameters, np.mean),
                    "tortuosity": stat(tortuosities, np.mean),
                    "diameter_median_mm": stat(diameters, np.median),
                    "tortuosity_median": stat(tortuosities, np.median),
                    "tortuosity_vmtk": stat([v.tortuosity_vmtk for v in side], np.mean),
                    "length_mm": stat([v.length_mm for v in side], np.mean),
                }
            )
        return rows


BRAIN_MARGIN_MM = 2.0  # the mask is shrunk by this much so that no skull voxel darkens the MinIP


def brain_mask_swi(axial: Volume) -> np.ndarray:
    """Brain mask of an axial SWI: ``median_otsu`` on a 2 mm copy (fast), shrunk by
    ``BRAIN_MARGIN_MM`` there, brought back to the SWI grid by linear interpolation (smooth edges)."""
    from scipy import ndimage

    from glymph.mask import brain_mask_from_b0
    from glymph.preprocess import isotropic_grid, resample

    coarse = resample(axial, isotropic_grid(axial, 2.0), order=1)
    mask = brain_mask_from_b0(coarse)
    shrunk = ndimage.distance_transform_edt(mask.data, sampling=mask.spacing) > BRAIN_MARGIN_MM
    return resample(mask.with_data(shrunk.astype(np.float32)), axial, order=1).data > 0.5


def run_vein(
    swi: Volume,
    mask: Volume | None = None,
    slab_mm: float = DEFAULT_SLAB_MM,
    slab_center_mm: float | None = None,
    method: str = "classical",
    subject: str = "subject",
) -> VeinResult:
    """Measure the superficial veins of an SWI magnitude (or of a 2D MinIP). See the module docstring."""
    from glymph.midline import find_midline
    from glymph.minip import analysis_level, axial_ras, minip_slice, slab_slices, slice_at, sliding_minip
    from glymph.preprocess import resample
    from glymph.vein_morphometry import measure_veins
    from glymph.vein_segmentation import VeinInputs, get_method

    segmenter = get_method(method)
    check_image(swi, "SWI", "or a 2D MinIP")
    with step("reslicing to axial and brain mask"):
        axial = axial_ras(swi)
        two_d = axial.shape[2] == 1
        if mask is not None:
            inside = mask_on_grid(mask, swi, "SWI")
            brain = resample(inside.with_data(inside.data.astype(np.uint8)), axial, order=0).data > 0
        elif two_d:
            from glymph.mask import brain_mask_from_b0

            brain = brain_mask_from_b0(axial).data
        else:
            brain = brain_mask_swi(axial)
        if not brain.any():
            raise GlymphError("the brain mask is empty; check the image or give --mask")
    with step("MinIP at the analysis level"):
        if two_d:
            k, reason, volume = 0, "2D MinIP input", None
            minip, brain_plane = np.asarray(axial.data[:, :, 0], np.float32), brain[:, :, 0]
        else:
            half = slab_slices(axial, slab_mm) // 2
            k, reason = (
                (slice_at(axial, slab_center_mm), "given (--slab-center-mm)")
                if slab_center_mm is not None
                else analysis_level(axial, brain, slab_mm)
            )
            # brain-only MinIP: outside the brain the projection sees the brain median, so skull
            # and scalp (and their veins) never darken it
            filled = axial.with_data(np.where(brain, axial.data, np.float32(np.median(np.asarray(axial.data)[brain]))))
            minip = minip_slice(filled, k, slab_mm)
            brain_plane = brain[:, :, k - half : k + half + 1].any(axis=2)
            volume = sliding_minip(axial, slab_mm)
    plane_volume = Volume(
        minip[:, :, None].astype(np.float32),
        axial.affine @ np.array([[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, k], [0, 0, 0, 1.0]]),
    )
    plane = plane_affine(plane_volume.affine)
    median = float(np.median(minip[brain_plane])) if brain_plane.any() else 0.0
    if median <= 0:
        raise GlymphError("the MinIP is empty inside the brain; check the image and the mask")
    with step(f"mid-line and vein segmentation ({method})"):
        midline = find_midline(minip, brain_plane, plane)
        spacing = float(np.sqrt(abs(np.linalg.det(plane[:2, :2]))))
        segmentation = segmenter(VeinInputs(minip / median, brain_plane, spacing))
    with step("vein morphometry"):
        labels, veins = measure_veins(segmentation, plane, midline.side)
    level_z = float(plane_volume.affine[2, 3])
    return VeinResult(
        subject, plane_volume, volume, labels, brain_plane, veins, midline, level_z, reason, slab_mm, method
    )


def minip_png_array(minip: np.ndarray) -> np.ndarray:
    """The MinIP as displayed (and annotated in Labelme): subject's right on the left, anterior at
    the top; row r, column c is pixel (i, j) = (I-1-c, J-1-r)."""
    return minip.T[::-1, ::-1]


VEIN_COLUMNS = [
    "subject",
    "id",
    "hemisphere",
    "length_mm",
    "total_length_mm",
    "end_distance_mm",
    "tortuosity",
    "tortuosity_vmtk",
    "area_mm2",
    "diameter_mm",
    "branches",
    "start_x",
    "start_y",
    "end_x",
    "end_y",
    "centroid_x",
    "centroid_y",
]


def write_vein(
    result: VeinResult,
    out: str | os.PathLike,
    *,
    inputs: dict | None = None,
    parameters: dict | None = None,
    started: float | None = None,
    force: bool = False,
) -> Path:
    """Write ``VEIN_FILES`` into ``out``, atomically."""
    from glymph.qc import pyplot

    plt = pyplot()

    from glymph.image_io import write_nifti
    from glymph.outputs import atomic_out_dir, write_csv, write_sidecar
    from glymph.qc import vein_qc_figure

    started = time.perf_counter() if started is None else started
    with step(f"writing results to {out}"), atomic_out_dir(out, VEIN_FILES, force) as tmp:
        rows = result.hemisphere_rows()
        write_csv(tmp / "vein.csv", rows)
        write_csv(
            tmp / "veins.csv", [{"subject": result.subject, **vein.as_row()} for vein in result.veins], VEIN_COLUMNS
        )
        write_nifti(result.minip, tmp / "minip.nii.gz")
        write_nifti(
            result.minip_volume if result.minip_volume is not None else result.minip, tmp / "minip_volume.nii.gz"
        )
        write_nifti(
            result.minip.with_data(result.labels[:, :, None].astype(np.uint16)), tmp / "vein_seg.nii.gz", np.uint16
        )
        brain_values = result.minip.data[:, :, 0][result.brain]
        top = float(np.percentile(brain_values, 99.5)) if brain_values.size else None
        plt.imsave(tmp / "minip.png", minip_png_array(result.minip.data[:, :, 0]), cmap="gray", vmin=0, vmax=top)
        vein_qc_figure(result, tmp / "qc_vein.png")
        write_sidecar(
            tmp / "vein.json",
            "vein",
            started,
            inputs,
            {**(parameters or {}), "slab_mm": result.slab_mm, "method": result.method},
            subject=result.subject,
            level={"z_mm": result.level_z_mm, "chosen_by": result.level_reason},
            midline={"point_ras_mm": result.midline.point, "direction_ras": result.midline.direction},
            hemispheres=rows,
            veins=[{**vein.as_row(), "centreline_ras_mm": vein.centreline} for vein in result.veins],
            definitions={
                "vein": "8-connected component of the segmentation on the MinIP plane",
                "length_mm": "main trunk (longest end-to-end path of the skeleton graph) length",
                "tortuosity": "trunk length / distance between its end points",
                "tortuosity_vmtk": "tortuosity - 1 (VMTK)",
                "diameter_mm": "vein area / total centreline length (all branches)",
                "minip.png": "subject's right on the left, anterior at the top (for Labelme)",
            },
        )
    return Path(out)
