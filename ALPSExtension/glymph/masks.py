"""Brain masks: automatic from a T2-like image (a b0, an SWI), or read from a file and checked against a grid."""

from __future__ import annotations

import os
from itertools import pairwise

import numpy as np

from glymph.components import largest_component
from glymph.errors import GlymphError
from glymph.image_io import read_volume
from glymph.parallel import WORKERS, thread_map
from glymph.volume import Volume, axis_codes, mask_on_grid, reoriented


def brain_mask_from_b0(b0: Volume) -> Volume:
    """Brain mask from a mean b0 (3D): dipy's ``median_otsu`` (radius 2, one pass), holes filled,
    largest connected component kept.

    Computed in RAS voxel order so that the result does not depend on how the scan is stored.
    """
    from scipy import ndimage

    canonical = reoriented(b0, "RAS")
    mask = median_otsu(np.asarray(canonical.data, dtype=np.float32))
    if not mask.any():
        raise GlymphError("the automatic brain mask is empty; check the b0 image or give --mask")
    mask = ndimage.binary_fill_holes(largest_component(mask))
    return reoriented(canonical.with_data(mask), axis_codes(b0.affine))


def median_otsu(image: np.ndarray, median_radius: int = 2) -> np.ndarray:
    """dipy's ``median_otsu`` mask (one pass), voxel for voxel: a median filter over a cube of side
    ``2 * median_radius + 1`` (scipy), then Otsu's threshold (scikit-image's, which dipy uses when
    it is installed). Called directly because importing ``dipy.segment.mask`` (it imports
    ``dipy.reconst``) takes about 2 s, most of the time a whole ``glymph dti`` may take."""
    from skimage.filters import threshold_otsu

    smoothed = median_filter_slabs(image, 2 * median_radius + 1)
    return smoothed > threshold_otsu(smoothed)


def median_filter_slabs(image: np.ndarray, size: int, slabs: int | None = None) -> np.ndarray:
    """``scipy.ndimage.median_filter(image, size)``, the same values, computed in slabs along the
    first axis on parallel threads (scipy releases the GIL while filtering); each slab reads
    ``size // 2`` voxels of its neighbours."""
    from scipy.ndimage import median_filter

    slabs = slabs or WORKERS
    if slabs == 1 or image.shape[0] < 2 * size:
        return median_filter(image, size=size)
    edges = np.linspace(0, image.shape[0], slabs + 1).astype(int)
    reach = size // 2

    def slab(bounds: tuple[int, int]) -> np.ndarray:
        lo, hi = bounds
        start, stop = max(lo - reach, 0), min(hi + reach, image.shape[0])
        return median_filter(image[start:stop], size=size)[lo - start : hi - start]

    return np.concatenate(thread_map(slab, pairwise(edges), slabs))


def read_mask(path: str | os.PathLike, grid: Volume, what: str) -> Volume:
    """Read a binary mask (non-zero = inside) and check it lies on the grid of ``grid`` (the image
    it masks, named ``what`` in errors: "DWI", "T1")."""
    mask = mask_on_grid(read_volume(path, "mask"), grid, what)
    if not mask.data.any():
        raise GlymphError(f"mask {path} is empty")
    return mask
