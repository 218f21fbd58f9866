"""A tensor fit's result folder: tensor, FA, MD, colour-FA and mask NIfTIs and ``dti.json``."""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np

from glymph.dti.pipeline import DTIResult
from glymph.image_io import write_nifti, write_rgb_nifti
from glymph.outputs import result_folder, write_sidecar

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
        write_nifti(dti.tensor, tmp / "tensor.nii.gz")
        write_nifti(dti.fa(), tmp / "fa.nii.gz")
        write_nifti(dti.md(), tmp / "md.nii.gz")
        write_rgb_nifti(dti.colour_fa(), tmp / "colour_fa.nii.gz")
        write_nifti(dti.mask, tmp / "mask.nii.gz", np.uint8)
        write_sidecar(tmp / "dti.json", "dti", started, inputs, parameters, dti=dti.describe())
    return Path(out)
