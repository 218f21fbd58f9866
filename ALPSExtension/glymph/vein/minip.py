"""Minimum-intensity projections (MinIP) of SWI over an axial slab, and the analysis level.

The SWI is first resliced to axial RAS: exactly (a permutation of voxel axes) when its axes are
within 1 degree of the anatomical ones, else by linear resampling onto a RAS-aligned grid with the
finest in-plane voxel size and the slice spacing of its S-I-most axis. A slab of ``slab_mm``
centred on slice k holds the slices whose centres lie within +-slab_mm/2 of slice k's centre.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np

from glymph.errors import GlymphError
from glymph.preprocess import resample
from glymph.volume import Volume, reoriented

log = logging.getLogger("glymph")
OBLIQUE_TOLERANCE_DEG = 1.0


def plane_affine(affine: np.ndarray) -> np.ndarray:
    """3x3 pixel (i, j) -> RAS (x, y) mm of the axial plane of a 4x4 voxel-to-RAS ``affine``."""
    a = affine
    return np.array([[a[0, 0], a[0, 1], a[0, 3]], [a[1, 0], a[1, 1], a[1, 3]], [0.0, 0.0, 1.0]])


def axial_ras(image: Volume) -> Volume:
    """The image on an axial grid with voxel axes along R, A, S."""
    canonical = reoriented(image, "RAS")
    axes = canonical.rotation
    if np.all(np.diag(axes) >= np.cos(np.deg2rad(OBLIQUE_TOLERANCE_DEG))):  # axial within 1 degree: keep the voxels
        return canonical
    spacing = canonical.spacing
    in_plane = float(min(spacing[0], spacing[1]))
    lo, hi = canonical.world_bounds()
    step = np.array([in_plane, in_plane, spacing[2]])
    shape = tuple(int(n) for n in np.maximum(np.round((hi - lo) / step), 1))
    affine = np.eye(4)
    affine[:3, :3] = np.diag(step)
    affine[:3, 3] = lo + step / 2
    grid = Volume(np.zeros(shape, np.float32), affine)
    log.info(
        "the SWI is oblique: resliced to axial RAS (%s voxels of %s mm)",
        "x".join(map(str, shape)),
        "x".join(f"{s:.2f}" for s in step),
    )
    return resample(canonical, grid, order=1)


def slab_slices(axial: Volume, slab_mm: float) -> int:
    """Number of slices in a slab of ``slab_mm`` (odd: the centre slice and as many on each side)."""
    dz = float(axial.spacing[2])
    if slab_mm <= 0:
        raise GlymphError("--slab-mm must be positive")
    n = 2 * int(np.floor(slab_mm / (2 * dz) + 1e-6)) + 1
    if n > axial.shape[2]:
        raise GlymphError(
            f"a {slab_mm:g} mm slab needs {n} slices but the image has {axial.shape[2]} of {dz:g} mm; use a thinner --slab-mm"
        )
    return n


def sliding_minip(axial: Volume, slab_mm: float) -> Volume:
    """MinIP of every slice over the slab centred on it (slices nearer the ends use what exists)."""
    from scipy.ndimage import minimum_filter1d

    n = slab_slices(axial, slab_mm)
    return axial.with_data(minimum_filter1d(np.asarray(axial.data, np.float32), size=n, axis=2, mode="nearest"))


def slice_at(axial: Volume, z_mm: float) -> int:
    """Index of the axial slice whose centre is nearest RAS z = ``z_mm``; error outside the image."""
    k = float(axial.world_to_voxel(np.array([axial.affine[0, 3], axial.affine[1, 3], z_mm]))[2])
    if k < -0.5 or k > axial.shape[2] - 0.5:
        z0, z1 = (
            axial.voxel_to_world(np.array([0, 0, 0]))[2],
            axial.voxel_to_world(np.array([0, 0, axial.shape[2] - 1]))[2],
        )
        raise GlymphError(
            f"slab centre z = {z_mm:g} mm lies outside the image (z from {min(z0, z1):.1f} to {max(z0, z1):.1f} mm)"
        )
    return round(k)


def minip_slice(axial: Volume, centre: int, slab_mm: float) -> np.ndarray:
    """2D MinIP over the slab centred on slice ``centre``; the whole slab must lie in the image."""
    n = slab_slices(axial, slab_mm)
    half = n // 2
    if centre - half < 0 or centre + half >= axial.shape[2]:
        z = axial.voxel_to_world(np.array([0, 0, centre]))[2]
        raise GlymphError(
            f"the {slab_mm:g} mm slab centred at z = {z:.1f} mm extends beyond the image; move --slab-center-mm or use a thinner --slab-mm"
        )
    return np.asarray(axial.data[:, :, centre - half : centre + half + 1]).min(axis=2)


def analysis_level(axial: Volume, brain: np.ndarray, slab_mm: float) -> tuple[int, str]:
    """The analysis slice (SCV study: "the level of the lateral ventricles with the largest brain
    section"): the slice with the largest brain cross-section within 4 mm of the slice where the
    lateral ventricles' cross-section is largest (their bodies), among slices whose slab fits.

    Ventricles: bright (CSF) voxels, above the 90th intensity percentile of the brain, within 25 mm
    of the brain's centre line in x and 3 mm inside the brain; their area per slice is smoothed
    over 5 mm before its peak is taken. Without any, the image is refused (it does not look like a
    head; ``--slab-center-mm`` chooses the level by hand).
    """
    from scipy import ndimage

    half = slab_slices(axial, slab_mm) // 2
    allowed = np.zeros(axial.shape[2], bool)
    allowed[half : axial.shape[2] - half] = True
    if not allowed.any() or not brain.any():
        raise GlymphError("no slice has a full slab inside the image; use a thinner --slab-mm")
    data = np.asarray(axial.data, np.float32)
    dz = float(axial.spacing[2])
    inner = ndimage.binary_erosion(brain, iterations=max(round(3 / axial.spacing[0]), 1))
    threshold = np.percentile(data[brain], 90)
    i, j, k = np.ogrid[: axial.shape[0], : axial.shape[1], : axial.shape[2]]
    x = axial.affine[0, 0] * i + axial.affine[0, 1] * j + axial.affine[0, 2] * k + axial.affine[0, 3]  # RAS x only
    centre_x = float(np.median(x[brain]))
    ventricles = inner & (data > threshold) & (np.abs(x - centre_x) < 25)
    area = brain.sum(axis=(0, 1)).astype(float)
    ventricle_area = ndimage.uniform_filter1d(ventricles.sum(axis=(0, 1)).astype(float), max(round(5 / dz), 1))
    if ventricle_area.max() > 0:
        peak = int(np.argmax(ventricle_area))
        near = allowed & (np.abs(np.arange(axial.shape[2]) - peak) * dz <= 4.0)
        if near.any():
            return int(np.argmax(np.where(near, area, -1))), "lateral ventricle bodies, largest brain cross-section"
    raise GlymphError(
        "no lateral ventricles were found (or their slab does not fit in the image), so this does not look like an "
        "SWI of a head; if it is one, give --slab-center-mm (RAS z, mm) to choose the analysis level"
    )


@dataclass(frozen=True)
class AnalysisPlane:
    """The brain-only MinIP at the analysis level, as a one-slice volume on the axial grid, with
    the brain in its plane, why this level, the sliding MinIP of every slice and the slab's slices
    it was taken over (3D inputs)."""

    minip: Volume
    brain: np.ndarray = field(repr=False)
    reason: str
    sliding: Volume | None = field(repr=False)
    slab: np.ndarray | None = field(repr=False, default=None)  # (X, Y, K), brain only, as the MinIP saw them


def analysis_plane(axial: Volume, brain: np.ndarray, slab_mm: float, slab_center_mm: float | None) -> AnalysisPlane:
    """The MinIP over the ``slab_mm`` slab at ``slab_center_mm`` (RAS z) or at the automatic level
    (``analysis_level``). Outside the brain the projection sees the brain's median, so skull and
    scalp (and their veins) never darken it; the plane's brain is the brain in any slab slice.
    A one-slice (2D MinIP) input is the plane itself."""
    if axial.shape[2] == 1:
        k, reason, sliding, slab = 0, "2D MinIP input", None, None
        minip, brain_plane = np.asarray(axial.data[:, :, 0], np.float32), brain[:, :, 0]
    else:
        half = slab_slices(axial, slab_mm) // 2
        k, reason = (
            (slice_at(axial, slab_center_mm), "given (--slab-center-mm)")
            if slab_center_mm is not None
            else analysis_level(axial, brain, slab_mm)
        )
        filled = axial.with_data(np.where(brain, axial.data, np.float32(np.median(np.asarray(axial.data)[brain]))))
        minip = minip_slice(filled, k, slab_mm)
        slab = np.asarray(filled.data[:, :, k - half : k + half + 1], np.float32)
        brain_plane = brain[:, :, k - half : k + half + 1].any(axis=2)
        sliding = sliding_minip(axial, slab_mm)
    at_k = np.array([[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, k], [0, 0, 0, 1.0]])
    return AnalysisPlane(
        Volume(minip[:, :, None].astype(np.float32), axial.affine @ at_k), brain_plane, reason, sliding, slab
    )
