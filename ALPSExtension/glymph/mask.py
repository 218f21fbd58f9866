"""Brain masks: automatic from the b0, or read from a file and checked against the DWI grid."""

from __future__ import annotations

import os

import numpy as np

from glymph.errors import GlymphError
from glymph.image_io import read_volume
from glymph.volume import Volume, axis_codes, reoriented


def brain_mask_from_b0(b0: Volume) -> Volume:
    """Brain mask from a mean b0 (3D): dipy's ``median_otsu`` (radius 2, one pass), holes filled,
    largest connected component kept.

    Computed in RAS voxel order so that the result does not depend on how the scan is stored.
    """
    from dipy.segment.mask import median_otsu
    from scipy import ndimage

    canonical = reoriented(b0, "RAS")
    _, mask = median_otsu(np.asarray(canonical.data, dtype=np.float32), median_radius=2, numpass=1)
    labels, n = ndimage.label(mask)
    if n == 0:
        raise GlymphError("the automatic brain mask is empty; check the b0 image or give --mask")
    largest = np.argmax(np.bincount(labels.ravel())[1:]) + 1
    mask = ndimage.binary_fill_holes(labels == largest)
    return reoriented(canonical.with_data(mask), axis_codes(b0.affine))


def read_mask(path: str | os.PathLike, grid: Volume) -> Volume:
    """Read a binary mask (non-zero = inside) and check it lies on the same grid as ``grid``."""
    mask = read_volume(path, "mask")
    if mask.data.ndim != 3:
        raise GlymphError(f"mask {path} must be a 3D image, it has {mask.data.ndim} dimensions")
    if not mask.same_grid(grid):
        raise GlymphError(
            f"mask {path} is on another grid than the DWI (shape {mask.shape} vs {grid.shape}, or a "
            "different position); resample it onto the DWI grid first"
        )
    inside = mask.data > 0
    if not inside.any():
        raise GlymphError(f"mask {path} is empty")
    return Volume(inside, grid.affine)
