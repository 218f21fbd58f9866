"""The automatic brain mask of a DWI, computed while the rest of the file is still being decompressed.

Scanners write the b0 volumes first. When a .nii.gz DWI is being read ahead (``glymph.prefetch``)
and all its b0s lie in the first half of the file, its mean b0 and the brain mask of that
(``glymph.masks.brain_mask_from_b0``: 0.5-1 s for a 2 mm head) are computed from those first
volumes as soon as they are decompressed, on one core, while the other core decompresses the rest.
The mask is the one ``fit_dti`` computes from the whole file, value for value: the same stored
numbers, converted the same way, averaged the same way (``glymph.dti.dwi.mean_of_volumes``).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from glymph.dti.dwi import mean_of_volumes
from glymph.dti.gradients import default_gradient_files, read_fsl_gradients
from glymph.prefetch import Reading
from glymph.volume import Volume

# stored types that nibabel converts to float32 exactly as ``astype`` does (no scaling in between)
EXACT_TYPES = ("uint8", "int8", "uint16", "int16", "int32", "uint32", "float32")
HEADER_BYTES = 544  # a NIfTI-2 header and its extension flag (a NIfTI-1 one is 352)


def brain_mask_ahead(
    reading: Reading,
    path: str | os.PathLike,
    bval: str | os.PathLike | None,
    bvec: str | os.PathLike | None,
    b0_threshold: float,
) -> Volume | None:
    """The automatic brain mask of the DWI at ``path`` (NIfTI with FSL ``bval``/``bvec`` files,
    by default beside it) from its first volumes in ``reading`` (``glymph.prefetch.ahead``), on
    the DWI's grid; None when its b0s are not all in its first half, its values are scaled (``scl_slope``) or
    stored as float64, or anything else does not fit: the whole read then reports what is wrong."""
    try:
        return _brain_mask_ahead(reading, Path(path), bval, bvec, b0_threshold)
    except Exception:  # anything wrong is found, and reported, by the whole read
        return None


def _brain_mask_ahead(
    reading: Reading, path: Path, bval: str | os.PathLike | None, bvec: str | os.PathLike | None, b0_threshold: float
) -> Volume | None:
    import nibabel as nib

    from glymph.masks import brain_mask_from_b0

    head = reading.prefix(HEADER_BYTES)
    if head is None:
        return None
    nifti2 = 540 in {int.from_bytes(head[:4], order) for order in ("little", "big")}
    image = (nib.Nifti2Image if nifti2 else nib.Nifti1Image).from_bytes(head)  # header only; data not read
    proxy = image.dataobj
    if len(proxy.shape) != 4 or proxy.order != "F" or proxy.dtype.name not in EXACT_TYPES:
        return None
    if float(proxy.slope) != 1.0 or float(proxy.inter) != 0.0:
        return None
    n_volumes = proxy.shape[3]
    default_bval, default_bvec = default_gradient_files(path)
    bvals, _ = read_fsl_gradients(Path(bval or default_bval), Path(bvec or default_bvec), n_volumes)
    b0s = np.flatnonzero(bvals <= b0_threshold)
    if not b0s.size or b0s[-1] + 1 > n_volumes // 2:
        return None
    needed = b0s[-1] + 1
    volume_bytes = int(np.prod(proxy.shape[:3])) * proxy.dtype.itemsize
    data = reading.prefix(int(proxy.offset) + needed * volume_bytes)
    if data is None:
        return None
    first = np.ndarray((*proxy.shape[:3], needed), proxy.dtype, data, int(proxy.offset), order="F")
    mean_b0 = mean_of_volumes(first.astype(np.float32), b0s)
    return brain_mask_from_b0(Volume(mean_b0, np.asarray(image.affine, dtype=np.float64)))
