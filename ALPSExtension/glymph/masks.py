"""Brain masks: automatic from a T2-like image (a b0, an SWI), or read from a file and checked against a grid."""

from __future__ import annotations

import os

import numpy as np

from glymph.components import largest_component
from glymph.errors import GlymphError
from glymph.image_io import read_volume
from glymph.volume import Volume, axis_codes, mask_on_grid, reoriented


def brain_mask_from_b0(b0: Volume) -> Volume:
    """Brain mask from a mean b0 (3D): dipy's ``median_otsu`` (radius 2, one pass), holes filled,
    largest connected component kept.

    Computed in RAS voxel order so that the result does not depend on how the scan is stored.
    """
    from dipy.segment.mask import median_otsu
    from scipy import ndimage

    canonical = reoriented(b0, "RAS")
    _, mask = median_otsu(np.asarray(canonical.data, dtype=np.float32), median_radius=2, numpass=1)
    if not mask.any():
        raise GlymphError("the automatic brain mask is empty; check the b0 image or give --mask")
    mask = ndimage.binary_fill_holes(largest_component(mask))
    return reoriented(canonical.with_data(mask), axis_codes(b0.affine))


def read_mask(path: str | os.PathLike, grid: Volume, what: str) -> Volume:
    """Read a binary mask (non-zero = inside) and check it lies on the grid of ``grid`` (the image
    it masks, named ``what`` in errors: "DWI", "T1")."""
    mask = mask_on_grid(read_volume(path, "mask"), grid, what)
    if not mask.data.any():
        raise GlymphError(f"mask {path} is empty")
    return mask
