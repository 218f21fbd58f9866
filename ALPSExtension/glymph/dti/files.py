"""A tensor fit's result folder: tensor, FA, MD, colour-FA and mask NIfTIs and ``dti.json``."""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np

from glymph.dti.dwi import DWI
from glymph.dti.gradients import world_to_fsl
from glymph.dti.pipeline import DTIResult
from glymph.image_io import strip_image_suffix, write_nifti, write_rgb_nifti
from glymph.outputs import result_folder, write_sidecar
from glymph.parallel import thread_map
from glymph.volume import reoriented

DTI_FILES = ("tensor.nii.gz", "fa.nii.gz", "md.nii.gz", "colour_fa.nii.gz", "mask.nii.gz", "dti.json")


def write_dti(
    dti: DTIResult,
    out: str | os.PathLike,
    *,
    inputs: dict | None = None,
    parameters: dict | None = None,
    started: float | None = None,
    force: bool = False,
) -> Path:
    """Write tensor, FA, MD, colour-FA and mask NIfTIs and ``dti.json`` into ``out``."""
    started = time.perf_counter() if started is None else started
    with result_folder(out, DTI_FILES, force) as tmp:
        writes = [
            lambda: write_nifti(dti.tensor, tmp / "tensor.nii.gz"),
            lambda: write_nifti(dti.fa(), tmp / "fa.nii.gz"),
            lambda: write_nifti(dti.md(), tmp / "md.nii.gz"),
            lambda: write_rgb_nifti(dti.colour_fa(), tmp / "colour_fa.nii.gz"),
            lambda: write_nifti(dti.mask, tmp / "mask.nii.gz", np.uint8),
        ]
        thread_map(lambda write: write(), writes)  # ISA-L compresses without the GIL
        write_sidecar(tmp / "dti.json", "dti", started, inputs, parameters, dti=dti.describe())
    return Path(out)


def write_dwi_fsl(dwi: DWI, path: str | os.PathLike, storage: str | None = None) -> tuple[str, str, str]:
    """Write a DWI as NIfTI + FSL bval/bvec beside it, optionally re-stored in another axis order
    ('LAS', 'PSR'). The b-vectors are converted from RAS world to FSL's convention for the stored
    affine. Returns the three paths."""
    volume = reoriented(dwi.volume, storage) if storage else dwi.volume
    out = Path(path)
    write_nifti(volume, out)
    stem = out.with_name(strip_image_suffix(out))
    bval, bvec = stem.with_suffix(".bval"), stem.with_suffix(".bvec")
    np.savetxt(bval, dwi.bvals[None, :], fmt="%g")
    np.savetxt(bvec, world_to_fsl(dwi.bvecs, volume.affine).T, fmt="%.8f")
    return str(out), str(bval), str(bvec)
